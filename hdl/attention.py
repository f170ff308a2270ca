"""Attention engines for one query row: the FlashAttention-2 baseline and FLASH-D.

Both take one input stream of ``{q, k, v, last}`` (``lib.stream``: payload, valid, ready),
one (k_i, v_i) pair per accepted cycle; ``q`` is read on the first pair of each row (the pair
after the previous row's ``last``) and ignored on the others. The output row ``o`` leaves on a
valid/ready stream in d/k beats of k values (``out_lanes``, by default the fewest lanes that
keep up with rows of ``min_row`` pairs), its first beat ``latency`` cycles after its row's
last pair was accepted; with ``out_lanes=None`` the d values at once with a one-cycle valid
(the paper's interface). Rows follow each other with no idle cycle.

Interleave ``P``: P independent rows are streamed round-robin, pair i of row 0, pair i of
row 1, ..., pair i of row P-1, so the P rows of a group have equal length (as the query rows
of one attention head do). Each loop-carried recurrence then has P cycles: its operators
get P-1 register ranks and the state register closes the ring. ``ready`` is low only when
P > 1 and the input paused (the next pair waits until its row's slot comes round again), or
for a row's last pair while the output stream has no buffer for it (rows shorter than
``min_row``, or ``o.ready`` held low).

``stages`` register ranks go into every feed-forward operator (dot product, subtractions,
exponentials, lane multiplies, reciprocal). Each engine lists its units (:meth:`units`,
hashable :class:`Unit` descriptions, nothing built: :mod:`~flashd.hdl.plan`) and states its latency from their own
latencies (:meth:`latency_of`); a test holds that against the units ``elaborate`` builds.
Throughput: one pair per cycle, so a row of N pairs takes N cycles of the input stream.
"""


from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .float import float_layout
from .params import FA2Params, FlashDParams, published_weights
from .pipeline import ValidSignature, delay
from .plan import STREAM_CYCLES, fa2_latency, fa2_units, flashd_latency, flashd_units
from .unit import Unit

__all__ = ["FA2Engine", "FlashDEngine", "input_layout", "output_layout"]


def ring(m, depth, value, load, name, init=None):
    """A ``depth``-long circular register chain that rotates every cycle; returns its head
    (the entry of the slot now at the input). The head is replaced by ``value`` when ``load``."""
    kw = {} if init is None else {"init": init}
    regs = [Signal.like(value, name=f"{name}{j}", **kw) for j in range(depth)]
    for j in range(depth - 1):
        m.d.sync += regs[j].eq(regs[j + 1])
    m.d.sync += regs[-1].eq(Mux(load, value, regs[0]))
    return regs[0]


class Loop:
    """A loop-carried state with ``P`` register ranks around it: the state register plus
    ``P - 1`` ranks inside the operators of the update. The item entering at cycle t reads
    ``state`` and its slot's updated state is in ``state`` at t + P (or the old one when the
    item was not valid)."""

    def __init__(self, m, name, shape, P):
        self.m, self.P = m, P
        self.state = Signal(shape, name=name)
        self._old = None

    def old(self):
        """The entering state, P - 1 cycles later (beside the update)."""
        if self._old is None:
            self._old = delay(self.m, self.P - 1, old=self.state).old
        return self._old

    def close(self, valid, update):
        """``update`` is ready P - 1 cycles after entry; the state holds when not ``valid``."""
        self.m.d.sync += self.state.eq(Mux(valid, update, self.old()))


def _convert(m, u, name, value):
    """``value`` through converter ``u[name]``, or unchanged when there is none."""
    if name not in u:
        return value
    m.d.comb += [u[name].i.payload.a.eq(value), u[name].i.valid.eq(1)]
    return u[name].o.payload


def _drive(m, unit, valid, **operands):
    m.d.comb += [getattr(unit.i.payload, k).eq(v) for k, v in operands.items()]
    m.d.comb += unit.i.valid.eq(valid)
    return unit.o.payload


def input_layout(params):
    """The input stream's payload: ``{q, k, v: ArrayLayout(fmt, d), last: 1}``."""
    vec = data.ArrayLayout(float_layout(params.fmt), params.d)
    return data.StructLayout({"q": vec, "k": vec, "v": vec, "last": 1})


def output_layout(params):
    """The output: the row, ``ArrayLayout(fmt, d)``; with ``out_lanes`` k, one beat
    ``{data: ArrayLayout(fmt, k), last: 1}`` (``last`` on a row's final beat)."""
    if params.out_lanes is None:
        return data.ArrayLayout(float_layout(params.fmt), params.d)
    return data.StructLayout({"data": data.ArrayLayout(float_layout(params.fmt), params.out_lanes), "last": 1})


def output_signature(params):
    """The row at once with valid only, or (``out_lanes``) beats on a valid/ready stream."""
    if params.out_lanes is None:
        return ValidSignature(output_layout(params))
    return stream.Signature(output_layout(params))


# cycles the output stream adds: the row into its buffer, the beat into the issue register,
class _Engine(wiring.Component):
    """Ports and the front end (acceptance, q store, dot product) of both engines.

    Parameters
    ----------
    params : FA2Params or FlashDParams, optional
        The engine's parameters (:mod:`flashd.hdl.params`); or give them as keyword
        arguments instead (``d=64, fmt="bf16", ...``).

    Attributes
    ----------
    latency : int
        Cycles from the acceptance of a row's last pair to its output's valid
        (:meth:`latency_of` the parameters).
    throughput : int
        Accepted (k, v) pairs per cycle.

    unit_builder : callable, optional
        Makes each unit's component from its :class:`Unit` (default :meth:`Unit.build`).
        Synthesis passes one that returns a :class:`StandIn`, so that every unit is an
        instance of the unit's own netlist module.

    Members
    -------
    i : In(stream.Signature(StructLayout({"q", "k", "v": ArrayLayout(fmt, d), "last": 1})))
    o : Out(stream.Signature(StructLayout({"data": ArrayLayout(fmt, k), "last": 1}))) with
        ``out_lanes`` k (the default), or Out(ValidSignature(ArrayLayout(fmt, d))) with None

    The output stream (``out_lanes``): at a row's end its state moves to one of
    ``out_buffers`` buffers, so the lanes start the next row at once, and leaves in d/k
    beats. A row's last pair is accepted only while fewer than ``out_buffers`` rows are
    finished but not yet issued (``i.ready`` low for it otherwise: ``ready`` depends on
    ``payload.last``): rows shorter than the time a row takes to land and leave stall the
    input, and so does ``o.ready`` held low.
    """
    PARAMS = None

    def __init__(self, params=None, *, unit_builder=None, **kw):
        if params is None:
            params = self.PARAMS(**kw)
        elif kw:
            raise TypeError(f"give {self.PARAMS.__name__} or keyword arguments, not both (got {', '.join(kw)})")
        elif not isinstance(params, self.PARAMS):
            raise TypeError(f"params must be {self.PARAMS.__name__}, not {params!r}")
        self.params = params
        self._unit_builder = unit_builder or Unit.build
        super().__init__({"i": In(stream.Signature(input_layout(params))), "o": Out(output_signature(params))})

    @property
    def latency(self):
        return self.latency_of(self.params)

    @property
    def throughput(self):
        return self.params.throughput

    @classmethod
    def units(cls, params):
        """The engine's functional units, ``{instance name: Unit}``, in the order
        ``elaborate`` adds them (the pipelined operators and the dot product, then the
        combinational converters and threshold comparators). Builds nothing."""
        raise NotImplementedError

    @classmethod
    def path_latency(cls, params, latency):
        """The engine's latency given each unit's (``latency``: instance name -> cycles)."""
        raise NotImplementedError

    @classmethod
    def latency_of(cls, params):
        """Cycles from the acceptance of a row's last pair to its output's valid, from the
        units' own stated latencies (nothing built)."""
        return cls.path_latency(params, {name: unit.latency for name, unit in cls.units(params).items()})

    def _build(self, m):
        """Every unit built and added as a submodule (``{instance name: component}``)."""
        u = {name: self._unit_builder(unit) for name, unit in self.units(self.params).items()}
        for name, unit in u.items():
            m.submodules[name] = unit
        return u

    def _front(self, m, u):
        """Acceptance, slot bookkeeping, q store and the dot product ``u["dot"]``.

        Returns the dot product's output cycle: ``s`` with ``v``, ``first``, ``last`` and
        ``valid`` beside it (``dot.latency`` cycles after acceptance)."""
        P, inp = self.params.interleave, self.i
        # out_lanes: a row's last pair waits for room in the output buffers (_stream drives it)
        self._room = Signal(init=1, name="out_room")
        room = self._room | ~inp.payload.last
        if P == 1:
            m.d.comb += inp.ready.eq(room)
        else:
            pos = Signal(range(P), name="slot_pos")
            want = Signal(range(P), name="slot_next")
            m.d.sync += pos.eq(Mux(pos == P - 1, 0, pos + 1))
            m.d.comb += inp.ready.eq((pos == want) & room)
            with m.If(inp.valid & inp.ready):
                m.d.sync += want.eq(Mux(want == P - 1, 0, want + 1))
        accept = Signal(name="accept")
        m.d.comb += accept.eq(inp.valid & inp.ready)
        self._row_taken = accept & inp.payload.last
        first = ring(m, P, inp.payload.last, accept, "row_done", init=1)
        q_store = ring(m, P, inp.payload.q, accept & first, "q_store")
        dot = u["dot"]
        _drive(m, dot, accept, a=Mux(first, inp.payload.q, q_store), b=inp.payload.k)
        side = delay(m, dot.latency, v=inp.payload.v, first=first, last=inp.payload.last)
        side.s, side.valid = dot.o.payload, dot.o.valid
        return side

    def _lanes_to_acc(self, m, u, v):
        p = self.params
        out = Signal(data.ArrayLayout(float_layout(p.acc_fmt), p.d), name="v_acc")
        for j in range(p.d):
            m.d.comb += out[j].eq(_convert(m, u, f"v_cvt{j}", v[j]))
        return out

    def _output(self, m, u, o, valid):
        p = self.params
        for j in range(p.d):
            m.d.comb += self.o.payload[j].eq(_convert(m, u, f"out_cvt{j}", o[j]))
        m.d.comb += self.o.valid.eq(valid)

    def _stream(self, m, u, state, done, scale=None):
        """The output stream (``out_lanes`` k): ``state`` (the finished row, d values in the
        accumulator format) into the next buffer when ``done``; the head buffer leaves k
        values per beat through an issue register, (FA2) the multipliers ``norm{j}`` by its
        ``scale`` (``(value, valid, cycles)``: the row's 1/l, ``cycles`` after the row), the
        output converters and a FIFO; beats are issued only while
        the FIFO has room for every beat in flight."""
        p = self.params
        k, B, beats = p.out_lanes, p.out_buffers, p.d // p.out_lanes
        lane = float_layout(p.acc_fmt)
        w = lane.size
        bufs = [Signal(data.ArrayLayout(lane, p.d), name=f"out_buf{b}") for b in range(B)]
        full, ok = Signal(B, name="out_full"), Signal(B, name="out_scaled", init=0 if scale else (1 << B) - 1)
        wp, rp, beat = Signal(range(B), name="out_wp"), Signal(range(B), name="out_rp"), Signal(range(beats), name="out_beat")
        for b in range(B):
            with m.If(done & (wp == b)):
                m.d.sync += bufs[b].eq(state)
        scales = None
        if scale is not None:
            value, valid, cycles = scale
            slot = delay(m, cycles, slot=wp).slot                   # the buffer the row landed in
            scales = [Signal(lane, name=f"out_scale{b}") for b in range(B)]
            for b in range(B):
                with m.If(valid & (slot == b)):
                    m.d.sync += scales[b].eq(value)
        norm = [u[f"norm{j}"] for j in range(k)] if scale is not None else []
        depth = (norm[0].latency if norm else 0) + STREAM_CYCLES     # full throughput with ready high
        fifo = SyncFIFO(width=k * p.fmt.width + 1, depth=depth)
        m.submodules.out_fifo = fifo
        inflight = Signal(range(depth + 1), name="out_inflight")
        go, last_beat = Signal(name="out_go"), Signal(name="out_last_beat")
        m.d.comb += [go.eq(full.bit_select(rp, 1) & ok.bit_select(rp, 1) & (inflight < depth)),
                     last_beat.eq(beat == beats - 1)]
        freed = go & last_beat
        one = Const(1, B)
        m.d.sync += [full.eq((full | Mux(done, one << wp, 0)[:B]) & ~Mux(freed, one << rp, 0)[:B]),
                     wp.eq(Mux(done, Mux(wp == B - 1, 0, wp + 1), wp)),
                     rp.eq(Mux(freed, Mux(rp == B - 1, 0, rp + 1), rp)),
                     beat.eq(Mux(go, Mux(last_beat, 0, beat + 1), beat))]
        if scale is not None:
            m.d.sync += ok.eq((ok | Mux(valid, one << slot, 0)[:B]) & ~Mux(freed, one << rp, 0)[:B])
        # rows promised a buffer: taken at a row's last pair, given back when its last beat issues
        credits = Signal(range(B + 1), name="out_credits", init=B)
        m.d.sync += credits.eq(credits - self._row_taken + freed)
        m.d.comb += self._room.eq(credits != 0)
        # the issue register: beat `beat` of the head buffer
        head = Cat(*bufs).word_select(rp, p.d * w)
        issue = Signal(data.ArrayLayout(lane, k), name="out_issue")
        issue_scale = Signal(lane, name="out_issue_scale")
        issue_valid, issue_last = Signal(name="out_issue_valid"), Signal(name="out_issue_last")
        m.d.sync += [issue.eq(head.word_select(beat, k * w)), issue_valid.eq(go), issue_last.eq(freed)]
        if scale is not None:
            m.d.sync += issue_scale.eq(Cat(*scales).word_select(rp, w))
            lanes = [_drive(m, norm[j], issue_valid, a=issue[j], b=issue_scale) for j in range(k)]
            late = delay(m, norm[0].latency, last=issue_last, valid=issue_valid)
        else:
            lanes, late = [issue[j] for j in range(k)], delay(m, 0, last=issue_last, valid=issue_valid)
        m.d.comb += [fifo.w_data.eq(Cat(*(_convert(m, u, f"out_cvt{j}", lanes[j]) for j in range(k)), late.last)),
                     fifo.w_en.eq(late.valid),
                     self.o.payload.as_value().eq(fifo.r_data), self.o.valid.eq(fifo.r_rdy),
                     fifo.r_en.eq(self.o.ready)]
        m.d.sync += inflight.eq(inflight + go - (self.o.valid & self.o.ready))


class FA2Engine(_Engine):
    """FlashAttention-2 with lazy normalization (the parallel baseline of the FLASH-D paper).

    ``s = q.k`` (fused dot) -> running max ``m`` (loop) -> ``c = e^(m_old - m)``,
    ``e = e^(s - m)`` (two :class:`~flashd.hdl.nonlinear.FPExp`) -> ``l = l*c + e`` (loop,
    scalar format) and ``o = o*c + v*e`` on d lanes (loop, accumulator format) -> at the row's
    end ``o * (1/l)`` on d parallel multipliers. On a row's first pair m = s, l = e, o = v*e.

    Latency: ``2P + 6*stages`` cycles (:meth:`latency_of`).
    Parameters: :class:`~flashd.hdl.params.FA2Params`; ports: see :class:`_Engine`.
    """
    PARAMS = FA2Params

    @classmethod
    def units(cls, p):
        return fa2_units(p)

    @classmethod
    def path_latency(cls, p, lat):
        return fa2_latency(p, lat)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        P, sf, af = p.interleave, p.scalar_fmt, p.acc_fmt
        u = self._build(m)
        x = self._front(m, u)
        # running max: the only loop before the exponentials
        mx = Loop(m, "m_state", float_layout(sf), P)
        cmp = u["max"]
        _drive(m, cmp, x.valid, a=mx.state, b=x.s)
        end = delay(m, P - 1, s=x.s, first=x.first, valid=x.valid)
        mx.close(end.valid, Mux(end.first, end.s, cmp.o.payload.max))
        y = delay(m, P, s=x.s, m_old=mx.state, v=x.v, first=x.first, last=x.last, valid=x.valid)
        m_new = mx.state
        sub_c, sub_e, exp_c, exp_e = u["sub_c"], u["sub_e"], u["exp_c"], u["exp_e"]
        _drive(m, exp_c, sub_c.o.valid, a=_drive(m, sub_c, y.valid, a=y.m_old, b=m_new, sub=1))
        _drive(m, exp_e, sub_e.o.valid, a=_drive(m, sub_e, y.valid, a=y.s, b=m_new, sub=1))
        c, e = exp_c.o.payload, exp_e.o.payload
        y = delay(m, sub_e.latency + exp_e.latency, v=y.v, first=y.first, last=y.last, valid=y.valid)
        # v * e on the lanes (feed-forward), in the accumulator format
        c_acc = _convert(m, u, "c_cvt", c)
        e_acc = _convert(m, u, "e_cvt", e)
        v_acc = self._lanes_to_acc(m, u, y.v)
        ve = [_drive(m, u[f"ve{j}"], y.valid, a=v_acc[j], b=e_acc) for j in range(p.d)]
        z = delay(m, u["ve0"].latency, c=c, e=e, c_acc=c_acc, first=y.first, last=y.last, valid=y.valid)
        # the l and o recurrences: x*c + t, or t alone on a row's first pair
        end = delay(m, P - 1, first=z.first, valid=z.valid)
        l = Loop(m, "l_state", float_layout(sf), P)
        l_next = _drive(m, u["l_fma"], z.valid, a=l.state, b=z.c, c=z.e)
        l.close(end.valid, Mux(end.first, delay(m, P - 1, e=z.e).e, l_next))
        o = Loop(m, "o_state", data.ArrayLayout(float_layout(af), p.d), P)
        ve_late = delay(m, P - 1, **{f"ve{j}": ve[j] for j in range(p.d)}) if P > 1 else None
        o_next = Signal.like(o.state, name="o_next")
        for j in range(p.d):
            t = getattr(ve_late, f"ve{j}") if P > 1 else ve[j]
            body = _drive(m, u[f"o_fma{j}"], z.valid, a=o.state[j], b=z.c_acc, c=ve[j])
            m.d.comb += o_next[j].eq(Mux(end.first, t, body))
        o.close(end.valid, o_next)
        # normalization at the row's end: d multipliers by 1/l
        done = delay(m, P, valid=z.valid & z.last).valid
        recip = u["recip"]
        r_acc = _convert(m, u, "r_cvt", _drive(m, recip, done, a=l.state))
        if p.out_lanes:
            self._stream(m, u, o.state, done, (r_acc, recip.o.valid, recip.latency))
            return m
        o_late = delay(m, recip.latency, o=o.state).o
        out = Signal.like(o.state, name="o_norm")
        for j in range(p.d):
            m.d.comb += out[j].eq(_drive(m, u[f"norm{j}"], recip.o.valid, a=o_late[j], b=r_acc))
        self._output(m, u, out, delay(m, u["norm0"].latency, valid=recip.o.valid).valid)
        return m


class FlashDEngine(_Engine):
    """FLASH-D: ``w_i = sigmoid(s_i - s_{i-1} + ln w_{i-1})``, ``o_i = o_{i-1} + (v_i - o_{i-1})*w_i``,
    no max, no running sum, no division. On a row's first pair w = 1, so o = v.

    ``saturation="exact"`` (default): the loop carries ``lw = ln w`` and computes
    ``a = dx + lw``, ``lw = ln sigmoid(a)`` (:class:`~flashd.hdl.nonlinear.FPLogSigmoid`, one
    table), then ``w = e^lw`` off the loop. The state is never clamped, so a skipped update
    leaves the chain exact. Lanes skip the update (o kept) when ``a < skip_below`` and take
    ``o = v`` when ``a > copy_above`` (None: never; "default": -+(p+5)*ln2 for the
    accumulator's precision p, see :func:`default_thresholds`).

    ``saturation="published"``: the published rule. The loop carries w: ``a = dx + ln w``,
    ``w = sigmoid(a)``, except ``dx <= skip_below`` (default -6: w = 1e-5, o kept) and
    ``dx >= copy_above`` (default 11: w = 0.99999, o = v), the forced weights rounded to
    ``scalar_fmt``.

    ``loop_frac`` F (exact mode): the loop in fixed point (:mod:`~flashd.hdl.fixloop`): the
    score to an integer of ``2**-F`` (``s_fix``), ``dx`` and ``-dx`` by integer subtraction,
    the ring ``loop`` (two adders, G, a subtraction) and the weight ``w_fix`` straight into
    the accumulator format; skip and copy compare the integer A with the thresholds.

    ``update="lerp"`` (default): ``o + (v - o)*w``, one adder and one FMA per lane.
    ``update="blend"`` (published): ``w*v + (1 - w)*o``, one multiplier and one FMA per lane.

    Latency: ``2P + 3*stages`` (exact, the loop in float or fixed point) or ``2P + 2*stages`` (published), plus ``stages`` for
    ``blend`` (:meth:`latency_of`).
    Parameters: :class:`~flashd.hdl.params.FlashDParams`; ports: see :class:`_Engine`.
    """
    PARAMS = FlashDParams

    @classmethod
    def units(cls, p):
        return flashd_units(p)

    @classmethod
    def path_latency(cls, p, lat):
        return flashd_latency(p, lat)

    def _compare(self, m, u, name, a, threshold, valid):
        """(a < t, a > t, a == t) against a constant (comparator ``u[name]``), or all 0 when
        the threshold is None."""
        if threshold is None:
            return Const(0, 1), Const(0, 1), Const(0, 1)
        out = _drive(m, u[name], valid, a=a, b=threshold)
        return out.less, out.greater, out.equal

    def elaborate(self, platform):
        m = Module()
        p = self.params
        P, af = p.interleave, p.acc_fmt
        u = self._build(m)
        x = self._front(m, u)
        if p.loop_frac is not None:
            w, z = self._fixed_chain(m, u, x)
        else:
            s_prev = ring(m, P, x.s, x.valid, "s_prev")
            dx = _drive(m, u["sub_dx"], x.valid, a=x.s, b=s_prev, sub=1)
            y = delay(m, u["sub_dx"].latency, v=x.v, first=x.first, last=x.last, valid=x.valid)
            if p.saturation == "exact":
                w, z = self._exact_chain(m, u, dx, y)
            else:
                w, z = self._published_chain(m, u, dx, y)
        w_acc = _convert(m, u, "w_cvt", w)
        v_acc = self._lanes_to_acc(m, u, z.v)
        o = Loop(m, "o_state", data.ArrayLayout(float_layout(af), p.d), P)
        o_next = Signal.like(o.state, name="o_next")
        if p.update == "lerp":
            late = delay(m, u["diff0"].latency, w=w_acc, o=o.state)
            body = []
            for j in range(p.d):
                diff = _drive(m, u[f"diff{j}"], z.valid, a=v_acc[j], b=o.state[j], sub=1)
                body.append(_drive(m, u[f"o_fma{j}"], u[f"diff{j}"].o.valid, a=diff, b=late.w, c=late.o[j]))
        else:
            one = Const(af.bias << af.man_bits, af.width)
            om = _drive(m, u["one_minus_w"], z.valid, a=one, b=w_acc, sub=1)
            wv = [_drive(m, u[f"wv{j}"], z.valid, a=v_acc[j], b=w_acc) for j in range(p.d)]
            z = delay(m, u["wv0"].latency, v=v_acc, first=z.first, last=z.last, valid=z.valid, skip=z.skip, copy=z.copy)
            v_acc = z.v
            body = [_drive(m, u[f"o_fma{j}"], z.valid, a=om, b=o.state[j], c=wv[j]) for j in range(p.d)]
        end = delay(m, P - 1, v=v_acc, first=z.first, copy=z.copy, skip=z.skip, valid=z.valid)
        for j in range(p.d):
            m.d.comb += o_next[j].eq(Mux(end.first | end.copy, end.v[j], Mux(end.skip, o.old()[j], body[j])))
        o.close(end.valid, o_next)
        done = delay(m, P, valid=z.valid & z.last).valid
        if p.out_lanes:
            self._stream(m, u, o.state, done)
        else:
            self._output(m, u, o.state, done)
        return m

    def _exact_chain(self, m, u, dx, y):
        """lw = ln sigmoid(dx + lw) around the loop, then w = e^lw; skip/copy from a."""
        p = self.params
        P, sf = p.interleave, p.scalar_fmt
        lw = Loop(m, "lw_state", float_layout(sf), P)
        add, lsig = u["add_a"], u["lsig"]
        a = _drive(m, add, y.valid, a=dx, b=lw.state)
        lw_next = _drive(m, lsig, add.o.valid, a=a)
        end = delay(m, P - 1, first=y.first, valid=y.valid)
        lw.close(end.valid, Mux(end.first, 0, lw_next))
        a_post = delay(m, lsig.latency + 1, a=a).a
        post = delay(m, P, v=y.v, first=y.first, last=y.last, valid=y.valid)
        skip, _, _ = self._compare(m, u, "cmp_skip", a_post, p.threshold_bits("skip_below"), post.valid)
        _, copy, _ = self._compare(m, u, "cmp_copy", a_post, p.threshold_bits("copy_above"), post.valid)
        exp_w = u["exp_w"]
        w = _drive(m, exp_w, post.valid, a=lw.state)
        z = delay(m, exp_w.latency, v=post.v, first=post.first, last=post.last, valid=post.valid, skip=skip, copy=copy)
        return w, z

    def _fixed_chain(self, m, u, x):
        """The exact chain in fixed point: S, dx and -dx, LW' = step(dx, LW) around the loop,
        then w = e^LW in the accumulator format; skip/copy from the integer A."""
        p = self.params
        P = p.interleave
        conv, step, weight = u["s_fix"], u["loop"], u["w_fix"]
        score = _drive(m, conv, x.valid, a=x.s)
        S = score.s
        y = delay(m, conv.latency, v=x.v, first=x.first, last=x.last, valid=x.valid)
        S_prev = ring(m, P, S, y.valid, "s_prev")
        # a NaN score so far in the row makes every later weight NaN (the row NaN, as in floating point)
        nan = Signal(name="nan_seen")
        m.d.comb += nan.eq(Mux(y.first, 0, ring(m, P, nan, y.valid, "nan_row")) | score.nan)
        width = len(S)
        dx, ndx = Signal(signed(width + 1), name="dx"), Signal(signed(width + 1), name="dx_neg")
        m.d.comb += [dx.eq(S - S_prev), ndx.eq(S_prev - S)]
        lw = Loop(m, "lw_state", signed(width), P)
        out = _drive(m, step, y.valid, dx=dx, ndx=ndx, lw=lw.state)
        end = delay(m, P - 1, first=y.first, valid=y.valid)
        lw.close(end.valid, Mux(end.first, 0, out.lw))
        a_post = delay(m, 1, a=out.a).a
        post = delay(m, P, v=y.v, first=y.first, last=y.last, valid=y.valid, nan=nan)
        lo, hi = p.loop_thresholds()
        skip = Const(0, 1) if lo is None else (a_post < lo) & ~post.nan        # a NaN weight neither skips nor copies
        copy = Const(0, 1) if hi is None else (a_post > hi) & ~post.nan
        w = _drive(m, weight, post.valid, a=lw.state)
        z = delay(m, weight.latency, v=post.v, first=post.first, last=post.last, valid=post.valid, skip=skip, copy=copy,
                  nan=post.nan)
        return Mux(z.nan, p.acc_fmt.qnan, w), z

    def _published_chain(self, m, u, dx, y):
        """w = sigmoid(dx + ln w) around the loop, forced to constants by dx alone."""
        p = self.params
        P, sf = p.interleave, p.scalar_fmt
        w = Loop(m, "w_state", float_layout(sf), P)
        lt, gt, eq = self._compare(m, u, "cmp_skip", dx, p.threshold_bits("skip_below"), y.valid)
        skip = lt | eq
        _, gt, eq = self._compare(m, u, "cmp_copy", dx, p.threshold_bits("copy_above"), y.valid)
        copy = gt | eq
        ln, add, sig = u["ln_w"], u["add_a"], u["sig"]
        lnw = _drive(m, ln, y.valid, a=w.state)
        a = _drive(m, add, ln.o.valid, a=delay(m, ln.latency, dx=dx).dx, b=lnw)
        w_sig = _drive(m, sig, add.o.valid, a=a)
        end = delay(m, P - 1, first=y.first, valid=y.valid, skip=skip, copy=copy)
        w_lo, w_hi = published_weights(sf)
        one = sf.bias << sf.man_bits
        w.close(end.valid, Mux(end.first, one, Mux(end.skip, w_lo, Mux(end.copy, w_hi, w_sig))))
        post = delay(m, P, v=y.v, first=y.first, last=y.last, valid=y.valid, skip=skip, copy=copy)
        return w.state, post

