"""Pipeline registers and the valid-only stream signature shared by all operators."""

from types import SimpleNamespace

from amaranth.hdl import Const, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .format import check_int

__all__ = ["ValidSignature", "Pipeline", "PipelinedOperator", "spread", "delay", "check_stages"]


def spread(total, parts):
    """``total`` register ranks spread evenly over ``parts`` places (earlier ones get fewer):
    place ``i`` gets ``floor((i+1)*total/parts) - floor(i*total/parts)``."""
    return [(i + 1) * total // parts - i * total // parts for i in range(parts)]


class ValidSignature(wiring.Signature):
    """A stream without back-pressure: ``payload`` and ``valid``, both driven by the source.

    The operators are fixed-latency pipelines that never stall, so a ``ready`` would be a
    constant (and ``lib.stream``'s always-ready form cannot be a top-level port).
    """

    def __init__(self, payload_shape):
        super().__init__({"payload": Out(payload_shape), "valid": Out(1)})


class Pipeline:
    """Places ``stages`` register ranks over ``cuts`` cut points of a datapath.

    The operator calls :meth:`cut` after each of its ``cuts`` steps (the last one at its
    output). Ranks are spread evenly: cut ``i`` receives
    ``floor((i+1)*stages/cuts) - floor(i*stages/cuts)`` ranks, so ``stages <= cuts`` puts
    at most one rank per cut, and more stages than cuts stack the extras evenly.
    Latency is always ``stages`` cycles. Data registers have no reset; ``valid`` does.
    """

    def __init__(self, m, stages, cuts, valid, domain="sync", ranks=None):
        self.m, self.stages, self.cuts, self.domain = m, stages, cuts, domain
        self.valid = valid
        self._next = 0
        # an operator may place its ranks itself (one count per cut, summing to stages)
        self._ranks = spread(stages, cuts) if ranks is None else list(ranks)
        assert len(self._ranks) == cuts and sum(self._ranks) == stages, (ranks, cuts, stages)

    def ranks_at(self, i):
        return self._ranks[i]

    def cut(self, **values):
        """Register ``values`` as many times as this cut point wants; return them as attributes."""
        assert self._next < self.cuts, "more cut() calls than declared cuts"
        for _ in range(self.ranks_at(self._next)):
            regs = {}
            for name, v in values.items():
                shape = v.shape() if isinstance(v, (Value, data.View)) else Value.cast(v).shape()
                r = Signal(shape, name=f"p{self._next}_{name}", reset_less=True)
                self.m.d[self.domain] += r.eq(v)
                regs[name] = r
            valid = Signal(name=f"p{self._next}_valid")
            self.m.d[self.domain] += valid.eq(self.valid)
            values, self.valid = regs, valid
        self._next += 1
        return SimpleNamespace(**values)


def check_stages(stages):
    return check_int("stages", stages, 0)


def delay(m, cycles, *, valid=None, **values):
    """``values`` delayed by ``cycles`` register ranks (side-band data beside a sub-pipeline).
    A ``valid`` goes through the ranks' valid registers, which have a reset: a valid bit in
    a data register (no reset) comes out of reset at whatever value silicon powered up with
    (the gate-level simulation from random flip-flop states found that)."""
    pipe = Pipeline(m, cycles, 1, Const(0, 1) if valid is None else valid)
    out = pipe.cut(**values)
    if valid is not None:
        out.valid = pipe.valid
    return out


class PipelinedOperator(wiring.Component):
    """The base of every operator and unit: ports ``i`` and ``o`` (:class:`ValidSignature`),
    ``stages`` register ranks spread over the class's ``CUTS`` cut points, ``latency == stages``."""
    CUTS = 1

    def __init__(self, in_shape, out_shape, stages):
        self.stages = check_stages(stages)
        super().__init__({"i": In(ValidSignature(in_shape)), "o": Out(ValidSignature(out_shape))})

    @property
    def latency(self):
        """Cycles from ``i.valid`` to the matching ``o.valid``."""
        return self.stages

    @classmethod
    def latency_of(cls, *args, stages=0, **kwargs):
        """The latency of ``cls(*args, stages=stages, **kwargs)``, without building it."""
        return check_stages(stages)

    def _pipeline(self, m):
        return Pipeline(m, self.stages, self.CUTS, self.i.valid)

    def _drive(self, m, p, payload):
        m.d.comb += [self.o.payload.eq(payload), self.o.valid.eq(p.valid)]
