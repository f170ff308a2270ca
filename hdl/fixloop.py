"""FLASH-D's weight loop in fixed point: the state ``LW = ln w`` and the scores held as
integers of ``2**-frac``, saturating at ``±2**int_bits``.

Three units, each with its design here (read by the circuit and by the golden model,
:mod:`flashd.verif.fixmodel`, which writes the integer arithmetic again in NumPy):

- :class:`ScoreToFixed`: a score ``s`` (floating point) to ``S = round(s * 2**frac)``,
  to nearest even, saturating at ``-2**(int_bits + frac)`` and ``2**(int_bits + frac) - 1``
  (±Inf and NaN by their sign).
- :class:`FixLoopStep`, the loop: ``A = dx + LW`` (exact), ``LW' = min(A, 0) - G(|A|)``
  with ``G(t) = ln(1 + e**-t)`` a :mod:`~flashd.hdl.fixfunc` plan on [0, ``2**g_int``)
  (faithful, its mean error near 0; beyond, G rounds to 0), ``LW'`` saturating at
  ``-2**(int_bits + frac)``. ``|A|`` comes from two adders side by side (``dx + LW`` and
  ``-dx - LW``), so no negation follows the add in the loop.
- :class:`FixWeight`, off the loop: ``w = e**(LW / 2**frac)`` in a floating-point format,
  faithful, as :class:`~flashd.hdl.fixunits.FixExp` computes it (``t = LW * log2 e`` in
  fixed point, ``2**t`` from the exponential's ``exp2`` plan, one rounding); below the
  smallest normal, +0.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

from amaranth.hdl import Cat, Const, Module, Mux, signed
from amaranth.lib import data

from .fixfunc import FixFunctionUnit, FixPlan, plan
from .fixunits import exp_design, exp_significand, fixed_const
from .float import float_layout, shift_right_sticky, unpack, wire
from .format import as_format, check_int
from .pipeline import Pipeline, PipelinedOperator, spread

__all__ = ["LoopDesign", "loop_design", "WeightDesign", "weight_design", "ScoreToFixed", "FixLoopStep", "FixWeight",
           "MAX_LOOP_FRAC", "MAX_LOOP_INT"]

MAX_LOOP_FRAC = 20      # G's plan stays a few kbit of table; 20 bits are far below fp32 scores' precision
MAX_LOOP_INT = 10       # |scores| up to 1024


@dataclass(frozen=True)
class LoopDesign:
    """The loop's widths and G's plan (see the module)."""
    frac: int
    int_bits: int
    g_int: int
    plan: FixPlan

    @property
    def width(self):
        """Bits of the state and of a score (two's complement)."""
        return self.int_bits + self.frac + 1

    @property
    def lo(self):
        return -(1 << (self.int_bits + self.frac))

    @property
    def hi(self):
        return (1 << (self.int_bits + self.frac)) - 1


@lru_cache(maxsize=None)
def loop_design(frac, int_bits):
    check_int("loop_frac", frac, 1, MAX_LOOP_FRAC)
    check_int("loop_int", int_bits, 1, MAX_LOOP_INT)
    # beyond 2**g_int, G(t) < e**-t <= 2**-(frac + 2): below half a step, so G rounds to 0
    g_int = max(1, math.ceil(math.log2((frac + 2) * math.log(2))))
    return LoopDesign(frac, int_bits, g_int, plan("softplus", g_int + frac, frac, scale=1 << g_int))


@dataclass(frozen=True)
class WeightDesign:
    """``w = e**(LW / 2**F) = 2**k * 2**f``: ``T = (-LW * log2e) >> shift`` is ``-t`` with
    ``frac`` fraction bits (truncated), ``t = -T - 1`` (``~T``: |t| rounded up, no carry),
    ``k`` its integer part and f its fraction, fed to the exponential's ``plan``, which gives
    the significand (as :class:`~flashd.hdl.fixunits.FixExp`: no rounding, t's error
    budgeted). ``-LW <= one_below`` gives 1, correctly rounded there (else the value below 1,
    faithful but a lean where the weights are most often: the key of the running max)."""
    frac: int
    log2e: int
    shift: int
    plan: FixPlan
    one_below: int


@lru_cache(maxsize=None)
def weight_design(fmt, loop_frac, int_bits):
    fmt = as_format(fmt)
    e = exp_design(fmt)                                                 # t within 3/4 of its step, as FixExp's
    bits = e.frac + int_bits + 2                                        # |LW| * (log2e error) < 2**-(frac + 2)
    # 1 - e**-u at most half the ulp below 1 (2**-(M + 2)): 1 is the nearest
    one_below = math.floor(-math.log1p(-2.0 ** -(fmt.man_bits + 2)) * 2 ** loop_frac)
    return WeightDesign(e.frac, fixed_const(math.log2(math.e), bits), loop_frac + bits - e.frac, e.plan, one_below)


class ScoreToFixed(PipelinedOperator):
    """``i.payload.a`` (``fmt``) -> ``o.payload.s`` = S (signed, :attr:`LoopDesign.width`) and
    ``o.payload.nan`` (the score was NaN: the engine makes the row NaN, as IEEE arithmetic
    would). Cut points: after rounding."""
    CUTS = 1

    def __init__(self, fmt, frac, int_bits, *, stages=0):
        self.fmt, self.design = as_format(fmt), loop_design(frac, int_bits)
        super().__init__(data.StructLayout({"a": float_layout(self.fmt)}),
                         data.StructLayout({"s": signed(self.design.width), "nan": 1}), stages)

    def elaborate(self, platform):
        m, fmt, d = Module(), self.fmt, self.design
        M, I, F = fmt.man_bits, d.int_bits, d.frac
        p = self._pipeline(m)
        x = unpack(m, fmt, self.i.payload.a, "s")
        # |s| * 2**(F + 1) (one guard bit) = sig << (I + F + 1) >> (M + I - e); e < I here
        amount = wire(m, (M + I - x.exp).as_signed(), "s_shift")
        r, sticky = shift_right_sticky(m, Cat(Const(0, I + F + 1), x.sig), Mux(amount < 0, 0, amount).as_unsigned(), "s_fix")
        up = r[0] & (sticky | r[1])
        mag = wire(m, (r[1:] + up)[:I + F + 2], "s_mag")       # <= 2**(I + F): the top of the range
        big = x.inf | x.nan | (~x.zero & (x.exp >= I))
        S = Mux(x.sign, Mux(big | (mag > -d.lo), d.lo, -mag), Mux(big | (mag > d.hi), d.hi, mag))
        v = p.cut(s=S.as_signed()[:d.width].as_signed(), nan=x.nan)
        m.d.comb += [self.o.payload.s.eq(v.s), self.o.payload.nan.eq(v.nan), self.o.valid.eq(p.valid)]
        return m


class FixLoopStep(PipelinedOperator):
    """``{dx, ndx = -dx, lw}`` -> ``{lw: LW', a: A}`` (see the module). Cut points: after
    the two adders, after G, after the subtraction (:meth:`_ranks`: one rank goes after G)."""
    CUTS = 3

    def __init__(self, frac, int_bits, *, stages=0):
        self.design = d = loop_design(frac, int_bits)
        w = d.width
        super().__init__(data.StructLayout({"dx": signed(w + 1), "ndx": signed(w + 1), "lw": signed(w)}),
                         data.StructLayout({"lw": signed(w), "a": signed(w + 2)}), stages)

    def _ranks(self):
        """In a ring, a rank at the output only delays the state: the first goes after G
        (splitting the adders and G from the subtraction), the second after the adders."""
        k = self.stages
        return [0, 1, 0] if k == 1 else [1, 1, 0] if k == 2 else spread(k, 3)

    def elaborate(self, platform):
        m, d = Module(), self.design
        p = Pipeline(m, self.stages, self.CUTS, self.i.valid, ranks=self._ranks())
        x = self.i.payload
        a = wire(m, (x.dx + x.lw).as_signed(), "a")
        na = wire(m, (x.ndx - x.lw).as_signed(), "a_neg")
        neg = a[-1]
        t = Mux(neg, na, a)                                             # |A|
        near = wire(m, (t >> (d.g_int + d.frac)) == 0, "g_near")
        v = p.cut(a=a, t=t[:d.g_int + d.frac], near=near, neg=neg)
        g = FixFunctionUnit(d.plan)
        m.submodules.g = g
        m.d.comb += g.x.eq(v.t)
        v = p.cut(a=v.a, g=Mux(v.near, g.y, 0), neg=v.neg)
        lw = wire(m, (Mux(v.neg, v.a, 0) - v.g).as_signed(), "lw_raw")
        v = p.cut(lw=Mux(lw < d.lo, d.lo, lw)[:d.width].as_signed(), a=v.a)
        m.d.comb += [self.o.payload.lw.eq(v.lw), self.o.payload.a.eq(v.a), self.o.valid.eq(p.valid)]
        return m


class FixWeight(PipelinedOperator):
    """``i.payload.a`` = LW (signed, <= 0) -> ``e**(LW / 2**loop_frac)`` in ``fmt``, faithful.
    Cut points: after the product with log2(e), after 2**f, after packing."""
    CUTS = 3

    def __init__(self, fmt, loop_frac, int_bits, *, stages=0):
        self.fmt = as_format(fmt)
        self.loop = loop_design(loop_frac, int_bits)
        self.design = weight_design(self.fmt, loop_frac, int_bits)
        super().__init__(data.StructLayout({"a": signed(self.loop.width)}), float_layout(self.fmt), stages)

    def elaborate(self, platform):
        m, fmt, d = Module(), self.fmt, self.design
        p = self._pipeline(m)
        u = wire(m, (-self.i.payload.a).as_unsigned()[:self.loop.width], "u")      # -LW >= 0
        T = wire(m, (u * d.log2e) >> d.shift, "t_mag")
        v = p.cut(t=(~Cat(T, Const(0, 1))).as_signed(), one=u <= d.one_below)      # -T - 1
        y, biased = exp_significand(m, fmt, d.plan, v.t[d.frac:].as_signed(), v.t[:d.frac])
        v = p.cut(y=y, biased=biased, one=v.one)
        out = Mux(v.one, fmt.bias << fmt.man_bits, Mux(v.biased <= 0, 0, Cat(v.y, v.biased[:fmt.exp_bits], 0)))
        self._drive(m, p, p.cut(out=wire(m, out, "packed")).out)
        return m
