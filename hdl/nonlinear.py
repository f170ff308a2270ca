"""Nonlinear units built from a fitted piecewise-linear table and the library's FMA.

Both units reduce the input x = (-1)**s * m * 2**e exactly to its significand m in
[1, 2); the top ``log2(segments)`` fraction bits pick the segment, and ``a*m + b`` is
evaluated by :class:`~flashd.hdl.ops.FPFMA` in the unit's format (one rounding).
Register ranks live inside the FMAs (built in ``elaborate``), so ``latency`` is ``stages``,
spread over them; side-band data travels
beside them through :func:`~flashd.hdl.pipeline.delay`.
"""

import math

from amaranth.hdl import Array, Cat, Const, Module, Mux
from amaranth.lib import data

from .float import float_layout, round_pack, shift_right_sticky, unpack, wire
from .format import as_format
from .ops import FPFMA, FPMul
from .pipeline import PipelinedOperator, delay, spread
from .pwl import (
    EXP_RANGE,
    LSIG_GROUPS,
    check_segments,
    coefficients,
    exponent_check,
    lsig_range,
    round_to_format,
    sigmoid_range,
    split_ln2,
)

__all__ = ["FPReciprocal", "FPLn", "FPSigmoid", "FPExp", "FPLogSigmoid", "uniform_index"]


def uniform_index(m, x, e_hi, k, name="idx"):
    """floor(|x| * 2**(k - e_hi)) as k bits, saturating at 2**k - 1 (|x| >= 2**e_hi), with the
    sign above it: the piece of a table with 2**k equal pieces of [0, 2**e_hi) per sign."""
    if k == 0:
        return x.sign
    p = len(x.sig)
    amount = wire(m, (p - 1 + e_hi - k - x.exp).as_signed(), f"{name}_shift")
    shifted, _ = shift_right_sticky(m, x.sig, Mux(amount < 0, 0, amount).as_unsigned(), name)
    over = ~x.zero & (x.exp >= e_hi)
    return wire(m, Cat(Mux(over, (1 << k) - 1, shifted[:k]), x.sign), f"{name}_segment")


class _TableUnit(PipelinedOperator):
    """A table unit's parameters, coefficient tables and ports; ``latency == stages``."""
    CUTS = 4          # ranks are spread over up to 4 inner operators (exp), then stack

    def __init__(self, func, fmt, segments, stages):
        self.fmt = as_format(fmt)
        self.segments = check_segments(segments, self.fmt, func)
        self.a_table, self.b_table = coefficients(func, self.fmt, segments)
        f = float_layout(self.fmt)
        super().__init__(data.StructLayout({"a": f}), f, stages)

    def _drive_table(self, m, fma, idx, operand, valid):
        """Drive ``fma`` with a[idx] * operand + b[idx] (the coefficient ROMs)."""
        a = Array(Const(v, self.fmt.width) for v in self.a_table)
        b = Array(Const(v, self.fmt.width) for v in self.b_table)
        m.d.comb += [fma.i.payload.a.eq(a[idx]), fma.i.payload.b.eq(operand),
                     fma.i.payload.c.eq(b[idx]), fma.i.valid.eq(valid)]

    def _table_fma(self, m, fma, x_bits, valid):
        """Drive ``fma`` with a[i] * m + b[i] for the significand of ``x_bits``."""
        fmt = self.fmt
        raw = data.View(float_layout(fmt), x_bits)
        k = self.segments.bit_length() - 1
        idx = wire(m, raw.man[fmt.man_bits - k:], "segment")
        sig = Cat(raw.man, Const(fmt.bias, fmt.exp_bits), Const(0, 1))       # m in [1, 2)
        self._drive_table(m, fma, idx, sig, valid)
        return raw


class _OneFMAUnit(_TableUnit):
    """A table unit whose only pipelined part is one FMA (reciprocal, sigmoid)."""

    def _fma(self, m):
        m.submodules.fma = fma = FPFMA(self.fmt, stages=self.stages)
        return fma


class FPReciprocal(_OneFMAUnit):
    """``1/x``: table of 1/m on [1, 2), then the exponent -e (exact, or Inf/flush).

    1/±0 = ±Inf, 1/±Inf = ±0, NaN -> canonical NaN.

    Parameters
    ----------
    fmt : FPFormat or str
    segments : int
        2..64, a power of two with log2(segments) <= man_bits.
    stages : int
        Register ranks, all inside the FMA (its cut points); ``latency == stages``.

    Members
    -------
    i : In(ValidSignature(StructLayout({"a": fmt})))
    o : Out(ValidSignature(fmt))
    """

    def __init__(self, fmt, *, segments=8, stages=0):
        super().__init__("reciprocal", fmt, segments, stages)

    def elaborate(self, platform):
        m, fmt = Module(), self.fmt
        fma = self._fma(m)
        x_bits = self.i.payload.a.as_value()
        self._table_fma(m, fma, x_bits, self.i.valid)
        x = unpack(m, fmt, x_bits, "x")
        side = delay(m, fma.latency, sign=x.sign, exp=x.exp, zero=x.zero, inf=x.inf, nan=x.nan)
        p = unpack(m, fmt, fma.o.payload, "p")
        out = round_pack(m, fmt, side.sign, (p.exp - side.exp).as_signed(), p.sig,
                         zero=side.inf, inf=side.zero, nan=side.nan, normalized=True)
        m.d.comb += [self.o.payload.eq(out), self.o.valid.eq(fma.o.valid)]
        return m


class FPLn(_TableUnit):
    """Natural logarithm: ``ln x = e'*ln2 + t(m)``, with ``t`` the table of ln m on [1, 1.5)
    and of ln(m/2) on [1.5, 2) (then e' = e+1), so x near 1 from either side is not the
    difference of two large terms. Two FMAs: ``t = a*m + b``, then ``e'*LN2 + t``.

    ln(±0) = -Inf, ln(+Inf) = +Inf, ln(x < 0) and ln(-Inf) = NaN, ln(1) = +0.

    Parameters
    ----------
    fmt : FPFormat or str
        Needs ``emax + 1 <= 2**precision`` (e' exact): fp8_e5m2 is too narrow.
    segments : int
        As for :class:`FPReciprocal`, and at least 2 (the branch at m = 1.5).
    stages : int
        Split between the two FMAs (``stages // 2`` in the first); ``latency == stages``.
    """

    def __init__(self, fmt, *, segments=8, stages=0):
        super().__init__("ln", fmt, segments, stages)
        exponent_check(self.fmt, "ln")
        self.ln2 = round_to_format(self.fmt, math.log(2))

    def elaborate(self, platform):
        m, fmt = Module(), self.fmt
        m.submodules.fma_t = fma_t = FPFMA(fmt, stages=self.stages // 2)
        m.submodules.fma_e = fma_e = FPFMA(fmt, stages=self.stages - self.stages // 2)
        x_bits = self.i.payload.a.as_value()
        raw = self._table_fma(m, fma_t, x_bits, self.i.valid)
        x = unpack(m, fmt, x_bits, "x")
        e1 = wire(m, x.exp + raw.man[-1], "e_reduced")            # e' = e + [m >= 1.5]
        mag = wire(m, Mux(e1 < 0, -e1, e1)[:len(e1) - 1], "e_mag")
        e_float = round_pack(m, fmt, e1 < 0, len(mag) - 1, mag, name="e_float")   # exact
        e_late = delay(m, fma_t.latency, e=e_float).e
        m.d.comb += [fma_e.i.payload.a.eq(e_late), fma_e.i.payload.b.eq(self.ln2),
                     fma_e.i.payload.c.eq(fma_t.o.payload), fma_e.i.valid.eq(fma_t.o.valid)]
        side = delay(m, self.latency, nan=x.nan | (x.sign & ~x.zero), zero=x.zero, inf=x.inf)
        neg_inf = Const(fmt.inf | fmt.sign_bit, fmt.width)
        out = Mux(side.nan, fmt.qnan, Mux(side.zero, neg_inf, Mux(side.inf, fmt.inf, fma_e.o.payload)))
        m.d.comb += [self.o.payload.eq(out), self.o.valid.eq(fma_e.o.valid)]
        return m


class FPSigmoid(_OneFMAUnit):
    """Logistic sigmoid ``1/(1+e^-x)`` from a table over x itself.

    ``segments/2`` equal pieces of [0, 2**e_hi) per sign (``e_hi`` from
    :func:`~flashd.hdl.pwl.sigmoid_range`: 2 for fp8, 3 for bf16, 4 for fp16, 5 for fp32).
    The piece index is the top bits of |x|, a k-bit shift of the significand by the
    exponent. ``a*x + b`` is evaluated on the library FMA. Saturation: x >= 2**e_hi and +Inf
    give 1, x <= -2**e_hi and -Inf give +0 (the true value is then below 2**-(precision+1)),
    and the line's value is clamped into [+0, 1] (it can overshoot in the end pieces).
    NaN -> NaN.
    sigmoid(0) is the first line's b, within the table's error of 1/2 (not pinned).

    Parameters
    ----------
    fmt : FPFormat or str
    segments : int
        2..64, a power of two with log2(segments/2) <= precision.
    stages : int
        Register ranks, all inside the FMA; ``latency == stages``.
    """

    FUNC = "sigmoid"

    def __init__(self, fmt, *, segments=8, stages=0):
        super().__init__(self.FUNC, fmt, segments, stages)
        self.e_hi = sigmoid_range(self.fmt)

    def _symmetric_table(self, m, fma):
        """Drive ``fma`` with the line of x's piece; return (x, |x| >= 2**e_hi or Inf)."""
        x_bits = self.i.payload.a.as_value()
        x = unpack(m, self.fmt, x_bits, "x")
        idx = uniform_index(m, x, self.e_hi, self.segments.bit_length() - 2)
        self._drive_table(m, fma, idx, x_bits, self.i.valid)
        return x, ~x.zero & (x.inf | (x.exp >= self.e_hi))

    def elaborate(self, platform):
        m, fmt = Module(), self.fmt
        fma = self._fma(m)
        x, big = self._symmetric_table(m, fma)
        side = delay(m, fma.latency, nan=x.nan, one=big & ~x.sign, zero=big & x.sign)
        r = fma.o.payload.as_value()
        one = Const(fmt.bias << fmt.man_bits, fmt.width)
        # clamp the line into [0, 1]: positive floats order like their bit patterns
        # (saturation first: with a slope flushed to 0, -Inf makes the FMA's 0*Inf a NaN)
        out = Mux(side.nan, fmt.qnan, Mux(side.one, one, Mux(side.zero | r[-1], 0, Mux(r > one, one, r))))
        m.d.comb += [self.o.payload.eq(out), self.o.valid.eq(fma.o.valid)]
        return m


class FPLogSigmoid(FPSigmoid):
    """``ln sigmoid(x) = -ln(1 + e^-x)``, the log-weight of FLASH-D's chain, from a table
    over x with ``segments`` pieces in each of the 8 binades below 2**e_hi (picked by the
    exponent and the top fraction bits) and one line below them (see
    :func:`~flashd.hdl.pwl.lsig_range`). Beyond the table: x >= 2**e_hi gives +0
    (w = 1), x <= -2**e_hi gives x itself (the error ln(1 + e^x) < e^-(2**e_hi) is below
    half an ulp of x), -Inf gives -Inf; the line is clamped to <= 0. A weight kept as its
    logarithm has an absolute error here that becomes a relative error of w, so small
    weights stay accurate (a sigmoid's absolute error would not).

    Parameters
    ----------
    fmt : FPFormat or str
    segments : int
        Pieces per binade, 2..32, at most 2**man_bits.
    stages : int
        Register ranks, all inside the FMA; ``latency == stages``.
    """

    FUNC = "logsigmoid"

    def __init__(self, fmt, *, segments=8, stages=0):
        super().__init__(fmt, segments=segments, stages=stages)
        self.e_lo, self.e_hi = lsig_range(self.fmt)

    def _symmetric_table(self, m, fma):
        fmt, k = self.fmt, self.segments.bit_length() - 1
        x_bits = self.i.payload.a.as_value()
        x = unpack(m, fmt, x_bits, "x")
        raw = data.View(float_layout(fmt), x_bits)
        g = wire(m, Mux(x.zero | (x.exp < self.e_lo), 0,
                        Mux(x.exp >= self.e_hi, LSIG_GROUPS - 1, x.exp - self.e_lo + 1)), "group")
        idx = wire(m, Cat(raw.man[fmt.man_bits - k:], g[:(LSIG_GROUPS - 1).bit_length()], x.sign), "segment")
        self._drive_table(m, fma, idx, x_bits, self.i.valid)
        return x, ~x.zero & (x.inf | (x.exp >= self.e_hi))

    def elaborate(self, platform):
        m, fmt = Module(), self.fmt
        fma = self._fma(m)
        x, big = self._symmetric_table(m, fma)
        side = delay(m, fma.latency, nan=x.nan, zero=big & ~x.sign, same=big & x.sign,
                     x=self.i.payload.a.as_value())
        r = fma.o.payload.as_value()
        out = Mux(side.nan, fmt.qnan, Mux(side.same, side.x, Mux(side.zero | ~r[-1], 0, r)))
        m.d.comb += [self.o.payload.eq(out), self.o.valid.eq(fma.o.valid)]
        return m


class FPExp(_TableUnit):
    """``e**x`` by range reduction on the library's operators.

    ``t = x*LOG2E`` (FPMul), ``k = round(t)`` (half away from zero), ``r = x - k*LN2`` with
    LN2 split into LN2_HI + LN2_LO (two FMAs, so k*LN2 keeps ~2p bits), ``e**r`` from a
    table of ``segments/2`` equal pieces of [0, 1) per sign of r (|r| < ln2*(1/2 + ulp(t)/2)
    < 1), then ``* 2**k`` by exponent arithmetic. The pieces next to 0 are pinned at e**0 = 1,
    so exp(±0) = 1 exactly. k > emax+1 or +Inf give +Inf, k < emin or -Inf give +0 (the true
    value is then beyond the format); results below the smallest normal flush to +0.

    Parameters
    ----------
    fmt : FPFormat or str
        Needs ``emax + 1 <= 2**precision`` (k exact): fp8_e5m2 is too narrow.
    segments : int
        2..64, a power of two with log2(segments/2) <= precision.
    stages : int
        Spread over the multiplier and the three FMAs; ``latency == stages``.
    """

    def __init__(self, fmt, *, segments=8, stages=0):
        super().__init__("exp", fmt, segments, stages)
        exponent_check(self.fmt, "exp")
        self.log2e = round_to_format(self.fmt, 1 / math.log(2))
        self.ln2_hi, self.ln2_lo = split_ln2(self.fmt)

    def elaborate(self, platform):
        m, fmt = Module(), self.fmt
        split = spread(self.stages, 4)
        m.submodules.mul_t = mul_t = FPMul(fmt, stages=split[0])
        m.submodules.fma_hi = fma_hi = FPFMA(fmt, stages=split[1])
        m.submodules.fma_lo = fma_lo = FPFMA(fmt, stages=split[2])
        m.submodules.fma_tab = fma_tab = FPFMA(fmt, stages=split[3])
        x_bits = self.i.payload.a.as_value()
        x = unpack(m, fmt, x_bits, "x")
        m.d.comb += [mul_t.i.payload.a.eq(x_bits), mul_t.i.payload.b.eq(self.log2e),
                     mul_t.i.valid.eq(self.i.valid)]
        x_late = delay(m, mul_t.latency, x=x_bits).x
        # k = round(t), half away from zero: 2|t| = sig * 2**(exp - man + 1), then (2|t| + 1) >> 1
        t = unpack(m, fmt, mul_t.o.payload, "t")
        extra = fmt.exp_bits + 2
        huge = wire(m, t.inf | (~t.zero & (t.exp >= extra)), "t_huge")
        amount = wire(m, (fmt.man_bits + extra - 1 - t.exp).as_signed(), "t_shift")
        two_t, _ = shift_right_sticky(m, Cat(Const(0, extra), t.sig), Mux(amount < 0, 0, amount).as_unsigned(), "t_int")
        k_mag = wire(m, ((two_t + 1) >> 1)[:fmt.exp_bits + 3], "k_mag")      # |t| < 2**(exp_bits+2)
        sat_hi = wire(m, ~t.sign & (huge | (k_mag > fmt.emax + 1)), "sat_hi")
        sat_lo = wire(m, t.sign & (huge | (k_mag > -fmt.emin)), "sat_lo")
        k = wire(m, Mux(sat_hi | sat_lo, 0, Mux(t.sign, -k_mag, k_mag)), "k")
        neg_k = round_pack(m, fmt, ~t.sign, len(k_mag) - 1, Mux(sat_hi | sat_lo, 0, k_mag), name="neg_k")
        m.d.comb += [fma_hi.i.payload.a.eq(neg_k), fma_hi.i.payload.b.eq(self.ln2_hi),
                     fma_hi.i.payload.c.eq(x_late), fma_hi.i.valid.eq(mul_t.o.valid)]
        neg_k_late = delay(m, fma_hi.latency, v=neg_k).v
        m.d.comb += [fma_lo.i.payload.a.eq(neg_k_late), fma_lo.i.payload.b.eq(self.ln2_lo),
                     fma_lo.i.payload.c.eq(fma_hi.o.payload), fma_lo.i.valid.eq(fma_hi.o.valid)]
        r_bits = fma_lo.o.payload.as_value()
        r = unpack(m, fmt, r_bits, "r")
        idx = uniform_index(m, r, EXP_RANGE, self.segments.bit_length() - 2)
        self._drive_table(m, fma_tab, idx, r_bits, fma_lo.o.valid)
        side = delay(m, fma_hi.latency + fma_lo.latency + fma_tab.latency, k=k, hi=sat_hi, lo=sat_lo)
        nan = delay(m, self.latency, nan=x.nan).nan
        v = unpack(m, fmt, fma_tab.o.payload, "v")
        out = round_pack(m, fmt, 0, (v.exp + side.k).as_signed(), v.sig, zero=side.lo,
                         inf=side.hi, nan=nan, normalized=True, name="scale")
        m.d.comb += [self.o.payload.eq(out), self.o.valid.eq(fma_tab.o.valid)]
        return m
