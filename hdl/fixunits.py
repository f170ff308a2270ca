"""Faithful floating-point function units: range reduction and reconstruction in fixed point
around one :mod:`~flashd.hdl.fixfunc` unit, and one rounding at the end.

Each unit's design (:func:`exp_design`, :func:`reciprocal_design`, :func:`ln_design`: the
fixed-point widths, constants and the function plan) is computed once per format and read
by both the circuit here and the golden model (:mod:`flashd.verif.fixmodel`), as the table
units share their coefficients. The integer arithmetic is written twice.

Error budget (``p`` the precision): the fixed-point result before the rounding is within
a relative ``2**-(p+1)`` of the true value, so the rounding to nearest leaves it within
``1/2 + 1/2`` ulp, strictly less than 1 (faithful); the tests measure the real maximum on
every input of the 8- and 16-bit formats. Specials and saturation are decided on the
input's fields: exact by construction.
"""

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib import data

from .fixfunc import MAX_IN_BITS, MAX_LEAN, FixFunctionUnit, FixOctaves, FixOctavesUnit, FixPlan, octaves, plan
from .float import float_layout, normalize, round_pack, shift_right_sticky, unpack, wire
from .format import as_format
from .pipeline import PipelinedOperator

__all__ = ["GUARD", "MAX_MAN_BITS", "FIX_UNITS", "ExpDesign", "exp_design", "exp_design_of", "exp_significand", "fixed_const", "top_bit_set", "RecipDesign", "reciprocal_design",
           "LnDesign", "ln_design", "SoftDesign", "soft_design", "SigmoidDesign", "sigmoid_design", "FixExp", "FixReciprocal", "FixLn",
           "FixSigmoid", "FixLogSigmoid"]

GUARD = 3           # fraction bits beyond the precision in the function plans' outputs
A_FRAC = 2          # fraction bits beyond the precision of |x| for the sigmoid's and log-sigmoid's plans
MAX_MAN_BITS = 23   # fp32: its plans are the widest fixfunc makes (bounded, 23 to 30 input bits)


def fixed_const(value, frac):
    """``value`` rounded to an integer number of ``2**-frac``."""
    return int(round(value * 2 ** frac))


def _check_precision(fmt, unit):
    if fmt.man_bits > MAX_MAN_BITS:
        raise ValueError(f"fmt={fmt.name}: the fixed-point {unit} is planned up to fp32's precision "
                         f"(allowed: formats with at most {MAX_MAN_BITS} fraction bits)")


@dataclass(frozen=True)
class ExpDesign:
    """``e**x = 2**k * 2**f`` with ``t = x*log2(e) = k + f``, ``k`` an integer, f in [0, 1).

    ``t`` comes in fixed point with ``frac`` fraction bits: the significand times ``log2e``
    (``log2e_bits`` fraction bits), shifted right by ``shift0 - e`` (truncated), and for a
    negative x complemented (``-T - 1``: |t| rounded up, not down, and no carry chain);
    either way within ``2**-frac``. ``k`` is its integer part (floor) and its fraction bits
    feed the ``exp2`` plan. ``|x| >= 2**e_sat`` saturates: +Inf for x > 0, +0 for x < 0.

    :func:`exp_design` (the exponential unit's) has no final rounding: its plan gives the
    result's significand itself (``man_bits`` fraction bits), within ``1 - T`` ulp of 2**f at
    f's step middle, ``T`` what the error of t (up to 3/4 of a step: half a step from the
    middle, a quarter from log2e) can move 2**f (slope < 2 ln 2): under 1 ulp together. An
    output of 2 (the top of f's range) is ``2**(k+1)``: ``k + bias`` and one more are both
    formed beside the plan, the plan's top bit picks one, and that decides overflow and
    flushing. Below ``2**e_one`` (a quarter of 1's ulp), 1 is the correctly rounded result:
    without that, the negative x there (t one step below 0, complemented) would give the
    value below 1, faithful but leaning low over a great many inputs.
    """
    frac: int
    log2e: int
    log2e_bits: int
    e_sat: int
    shift0: int
    plan: FixPlan
    e_one: int = None       # the exponential unit's: ±0 and |x| < 2**e_one give 1 exactly (correctly rounded)


T_STEPS = 0.75     # t's error in steps of 2**-frac, at most: half a step from the middle, a quarter from log2e


def exp_design(fmt):
    fmt = as_format(fmt)
    _check_precision(fmt, "exponential")
    M, frac = fmt.man_bits, fmt.precision + 2
    moved = T_STEPS * 2 * math.log(2) * 2.0 ** (M - frac)      # ulps of 2**-M: 0.13
    return replace(exp_design_of(fmt, frac, M, limit=1 - moved, lean=MAX_LEAN), e_one=-(M + 2))


@lru_cache(maxsize=None)
def exp_design_of(fmt, frac, out_frac, min_sat=0, limit=1.0, plan_bits=None, lean=None):
    # beyond 2**e_sat, |t| >= emax + 2 (overflow) or <= emin - 2 (flushed): saturation (no
    # earlier than 2**min_sat)
    e_sat = max(min_sat, math.ceil(math.log2(max(fmt.emax + 2, 2 - fmt.emin) / math.log2(math.e))))
    bits = frac + e_sat + 1     # |x| * (log2e error) < 2**-(frac + 2)
    # t is low by half a step on average (truncated, or complemented): 2**f at the step's middle
    # (plan_bits: a plan on more bits than t, its input centred by the caller: no midpoint)
    f = plan("exp2", frac, out_frac, midpoint=True, limit=limit, lean=lean) if plan_bits is None else \
        plan("exp2", plan_bits, out_frac, limit=limit, lean=lean)
    return ExpDesign(frac, fixed_const(math.log2(math.e), bits), bits, e_sat, fmt.man_bits + bits - frac, f)


@dataclass(frozen=True)
class SoftDesign:
    """The sigmoid and the log-sigmoid from ``z = e**-a``, ``a = |x|``, held as ``2**k * 2**f``
    (``exp``: :class:`ExpDesign` of -a, one more bit than the exponential's, as the result
    has two more errors), and a second ``plan``: of a itself (in fixed point, ``a_frac``
    fraction bits, on [0, 2**a_int_bits), saturating above), computed beside the exponential,
    not after it: ``S(a) = 1/(1 + e**-a)`` for the sigmoid, ``C(a) = e**a * ln(1 + e**-a)``
    for the log-sigmoid (both tend to 1 as a grows)::

        sigmoid(x)    = S(a)         (x >= 0)       z * S(a)          (x < 0)
        logsigmoid(x) = -z * C(a)    (x >= 0)       -(a + z * C(a))   (x < 0)

    Where no table of a is faithful (fp32: a on [0, 32) to 2**-28), ``z_frac`` is set and
    the plan takes z itself, truncated to ``z_frac`` fraction bits, after the exponential
    (longer, but z in [0, 1) is smooth): ``S = 1/(1 + z)``, ``C = ln(1 + z)/z``.

    The products keep z's exponent k, so tiny results keep their relative precision; the
    log-sigmoid of x < 0 is a fixed-point sum with ``sum_frac`` fraction bits (its magnitude
    is >= ln 2). ``a >= 2**exp.e_sat``: z is below the smallest normal's quarter and S, C are
    within ``2**-(p + 3)`` of 1: the sigmoid gives 1 or +0, the log-sigmoid -0 or x itself.
    """
    exp: ExpDesign
    plan: FixPlan
    a_int_bits: int
    a_frac: int
    sum_frac: int
    z_frac: int = None


@lru_cache(maxsize=None)
def soft_design(fmt, function):
    fmt = as_format(fmt)
    _check_precision(fmt, function)
    p = fmt.precision
    # beyond 2**a_int_bits, S and C are within 2**-(p + 3) of 1 (1 - C(a) < 1 - S(a) < e**-a):
    # the saturation waits for that too (a format of few exponent bits and many fraction bits)
    a_int = max(1, math.ceil(math.log2((p + 3) * math.log(2))))
    e = exp_design_of(fmt, p + 3, p + GUARD + 1, a_int)
    a_frac = p + A_FRAC                             # |S'|, |C'| <= 1/4: half a step costs 2**-(p + A_FRAC + 3)
    if a_int + a_frac <= MAX_IN_BITS:
        try:
            second = plan("sigmoid" if function == "sigmoid" else "softplus_ratio", a_int + a_frac, p + GUARD + 1,
                          midpoint=True, scale=1 << a_int)
            return SoftDesign(e, second, a_int, a_frac, p + GUARD)
        except ValueError:
            pass
    # of z: |dS/dz|, |dC/dz| <= 1 and S, C >= 1/2: half a step of z costs 2**-(p + 3) relative
    z_frac = p + 3
    second = plan("recip_1p" if function == "sigmoid" else "ln1p_ratio", z_frac, p + GUARD + 1, midpoint=True)
    return SoftDesign(e, second, a_int, a_frac, p + GUARD, z_frac)


@dataclass(frozen=True)
class SigmoidDesign:
    """The sigmoid as one exponential: ``sigmoid(x) = 2**t`` with ``t = -|x|*log2(e) + L(a)``
    for x < 0 and ``t = L(a)`` for x >= 0, ``a = |x|``, ``L(a) = log2 sigmoid(a) =
    -log2(1 + e**-a)`` in (-1, 0] from the plans ``g`` of a by octave (``a_frac`` fraction
    bits, rounded to nearest even, fewer where L flattens; on [0, 2**a_int), saturating:
    beyond, |L| < half a step).

    t has ``F = exp.frac + 1`` fraction bits: ``T = |x|*log2(e)`` with ``exp.frac`` (the
    exponential's datapath, truncated) enters as ``-(2T + 1)`` (``~2T``: centred, no carry
    chain), L from the plans in those units; k = floor(t) is the exponent and f = t - k feeds
    ``exp.plan`` (on F bits, no midpoint: t is centred), which gives the significand, as in
    :func:`exp_design`: t within ``t_err`` steps (T ±1, log2e's 1/2, L's plans 1, a's
    rounding ``g.trunc_ulp``: |L'| <= 0.72 times half of a's step, 4 steps), so the plan is
    held to ``1 - t_err * 2 ln 2 * 2**(M - F)``.
    x >= 0 with ``a_fix >= a_one`` gives 1 and ±0 or |x| < 2**e_half gives 1/2, correctly
    rounded there (the x < 0 among them would otherwise give the value below 1/2: faithful,
    but a lean over many inputs); no product, no rounding.
    """
    exp: ExpDesign
    g: FixOctaves
    a_int: int
    a_frac: int
    a_one: int
    e_half: int


SIG_F, SIG_A = 4, 2     # the sigmoid's t fraction bits beyond M, and a's fewer than t's


@lru_cache(maxsize=None)
def sigmoid_design(fmt):
    """The sigmoid's design: :class:`SigmoidDesign`, or where the plan of a is too wide to be
    faithful (fp32) the product form of :func:`soft_design`."""
    fmt = as_format(fmt)
    _check_precision(fmt, "sigmoid")
    M = fmt.man_bits
    F = M + SIG_F
    # beyond 2**a_int, |L(a)| < log2(e) * e**-a < half a step
    a_int = max(1, math.ceil(math.log2(math.log(math.log2(math.e) * 2.0 ** (F + 1)))))
    a_frac = F - SIG_A
    if a_int + a_frac > MAX_IN_BITS:
        return soft_design(fmt, "sigmoid")
    try:
        g = octaves("log2_sigmoid", a_int, a_frac, F, math.log2(math.e) / 4 * 2.0 ** (F - a_frac))
    except ValueError:
        return soft_design(fmt, "sigmoid")
    t_err = 1 + 0.5 + 1 + g.trunc_ulp
    e = exp_design_of(fmt, F - 1, M, limit=1 - t_err * 2 * math.log(2) * 2.0 ** (M - F), plan_bits=F, lean=MAX_LEAN)
    # 1 - sigmoid(a) <= 2**-(M + 2) from a = ln(2**(M + 2) - 1): 1 is then the nearest
    a_one = math.ceil(math.log(2.0 ** (M + 2) - 1) * 2 ** a_frac)
    # sigmoid(±a) = 1/2 ± a/4 + O(a**3): within half an ulp of 1/2 below a = 2**-(M + 1)
    return SigmoidDesign(e, g, a_int, a_frac, a_one, -(M + 1))


@dataclass(frozen=True)
class RecipDesign:
    """``1/x = ±2**-e / m``: ``1/m`` from the ``recip_1p`` plan on the fraction bits."""
    plan: FixPlan


@lru_cache(maxsize=None)
def reciprocal_design(fmt):
    fmt = as_format(fmt)
    _check_precision(fmt, "reciprocal")
    return RecipDesign(plan("recip_1p", fmt.man_bits, fmt.precision + GUARD))


@dataclass(frozen=True)
class LnDesign:
    """``ln x = e'*ln2 + u*g(u)``, ``g(u) = ln(1+u)/u`` from the ``ln_ratio`` plan.

    With m in [1, 1.5): ``e' = e``, ``u = m - 1``; with m in [1.5, 2): ``e' = e + 1``,
    ``u = m/2 - 1``; u in [-1/4, 1/2) is exact with ``man_bits + 1`` fraction bits, so near
    x = 1 the result keeps its relative precision. The sum has ``frac`` fraction bits;
    ``ln2`` is ``ln 2`` in those units.
    """
    frac: int
    ln2: int
    plan: FixPlan


@lru_cache(maxsize=None)
def ln_design(fmt):
    fmt = as_format(fmt)
    p = fmt.precision
    _check_precision(fmt, "logarithm")
    g = plan("ln_ratio", fmt.man_bits, p + GUARD)
    # the product u*g exactly; e'*ln2 within 2**-(p + 4) (|e'| <= 2**(exp_bits - 1) + 1)
    frac = max(fmt.man_bits + 1 + g.out_frac, p + 4 + fmt.exp_bits)
    return LnDesign(frac, fixed_const(math.log(2), frac), g)


def _csd(c):
    """The canonical signed digits of ``c`` > 0: ``[(shift, +1 or -1)]``, no two adjacent."""
    digits, i = [], 0
    while c:
        if c & 1:
            d = 2 - (c & 3)                 # +1 when c = ...01, -1 when c = ...11
            digits.append((i, d))
            c -= d
        c >>= 1
        i += 1
    return digits


def _const_mul(m, x, c, name):
    """``x * c`` for a constant ``c`` as the sum of ``x`` shifted by its canonical signed digits
    (a third of the bits nonzero, against half for the binary digits a multiplier would add)."""
    terms = [(x << i) if d > 0 else -(x << i) for i, d in _csd(c)]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return wire(m, total.as_unsigned()[:len(x) + c.bit_length()], name)


def top_bit_set(m, y, lo, name):
    """``y`` (known to be >= ``lo``, which its width bounds from above) shifted so that its
    MSB is set, and by how many places (0 or 1): values within two binades need a 2-way mux,
    not a leading-zero count."""
    w = len(y)
    if lo >> (w - 1):
        return y, Const(0, 1)
    if not lo >> (w - 2):
        raise ValueError(f"{name}: values from {lo} in {w} bits span more than two binades")
    return wire(m, Mux(y[-1], y, y << 1)[:w], f"{name}_norm"), wire(m, ~y[-1], f"{name}_moved")


class _FixUnit(PipelinedOperator):
    """Ports ``i.payload.a`` -> ``o.payload`` (valid beside), ``stages`` ranks over ``CUTS``."""
    CUTS = 1

    def __init__(self, fmt, *, stages=0):
        self.fmt = as_format(fmt)
        self.design = self.DESIGN(self.fmt)
        f = float_layout(self.fmt)
        super().__init__(data.StructLayout({"a": f}), f, stages)

    def _start(self, m):
        return unpack(m, self.fmt, self.i.payload.a, "x"), self._pipeline(m)

    def _function(self, m, plan, x, name):
        unit = FixOctavesUnit(plan) if isinstance(plan, FixOctaves) else FixFunctionUnit(plan)
        m.submodules[name] = unit
        m.d.comb += unit.x.eq(x)
        return wire(m, unit.y, f"{name}_y")

    def _finish(self, m, p, out):
        self._drive(m, p, p.cut(out=out).out)
        return m


class FixExp(_FixUnit):
    """``e**x``, faithful (see :class:`ExpDesign`). exp(±0) = 1, exp(+Inf) = +Inf,
    exp(-Inf) = +0, NaN -> NaN; overflow gives +Inf, results below the smallest normal +0.
    No rounding: the plan gives the significand. Cut points: after the product with
    log2(e), after k and f, after 2**f, after packing."""
    CUTS = 4
    DESIGN = staticmethod(exp_design)

    def elaborate(self, platform):
        m, fmt, d = Module(), self.fmt, self.design
        x, p = self._start(m)
        big = ~x.zero & (x.exp >= d.e_sat)
        v = p.cut(prod=_const_mul(m, x.sig, d.log2e, "t_product"), exp=x.exp, sign=x.sign, nan=x.nan,
                  hi=~x.sign & (x.inf | big), lo=x.sign & (x.inf | big), one=x.zero | (x.exp < d.e_one))
        amount = wire(m, (d.shift0 - v.exp).as_signed(), "t_shift")      # >= 0 below e_sat
        t_mag, _ = shift_right_sticky(m, v.prod, Mux(amount < 0, 0, amount).as_unsigned(), "t")
        t = wire(m, (Cat(t_mag, Const(0, 1)) ^ v.sign.replicate(len(t_mag) + 1)).as_signed(), "t_signed")
        v = p.cut(k=t[d.frac:].as_signed(), f=t[:d.frac], nan=v.nan, hi=v.hi, lo=v.lo, one=v.one)
        y, biased = exp_significand(m, fmt, d.plan, v.k, v.f)
        v = p.cut(y=y, biased=biased, nan=v.nan, hi=v.hi | (biased >= fmt.exp_mask), lo=v.lo | (biased <= 0), one=v.one)
        out = Mux(v.nan, fmt.qnan, Mux(v.one, fmt.bias << fmt.man_bits, Mux(v.hi, fmt.inf, Mux(
            v.lo, 0, Cat(v.y, v.biased[:fmt.exp_bits], 0)))))
        return self._finish(m, p, wire(m, out, "packed"))


def exp_significand(m, fmt, plan, k, f):
    """``2**(k + f)`` from an ``exp2`` plan that gives the significand (:func:`exp_design`):
    its fraction bits and ``k + bias``, plus one where the plan gives 2 (its fraction bits
    are then 0; both exponents are formed beside the plan, from k)."""
    unit = FixFunctionUnit(plan)
    m.submodules.exp2 = unit
    m.d.comb += unit.x.eq(f)
    biased = wire(m, (k + fmt.bias).as_signed(), "biased")
    return unit.y[:fmt.man_bits], wire(m, Mux(unit.y[fmt.man_bits + 1], biased + 1, biased), "biased_y")


def _a_fix(m, fmt, x, a_int, a_frac, rounded=False):
    """|x| * 2**a_frac, truncated (or ``rounded`` to nearest even), saturating at
    2**(a_int + a_frac) - 1."""
    M, extra = fmt.man_bits, int(rounded)
    lift = max(0, a_frac + extra + a_int - 1 - M)
    amount = wire(m, (M + lift - a_frac - extra - x.exp).as_signed(), "a_fix_shift")
    a_fix, sticky = shift_right_sticky(m, Cat(Const(0, lift), x.sig), Mux(amount < 0, 0, amount).as_unsigned(), "a_fix")
    over = ~x.zero & (x.exp >= a_int)
    if rounded:
        up = a_fix[0] & (sticky | a_fix[1])
        a_fix = wire(m, a_fix[1:a_int + a_frac + 1] + up, "a_fix_rounded")
        over = over | a_fix[a_int + a_frac]
    top = (1 << (a_int + a_frac)) - 1
    return wire(m, Mux(over, top, a_fix[:a_int + a_frac]), "a_fix_sat")


class FixReciprocal(_FixUnit):
    """``1/x``, faithful: ``2**-e`` times ``1/m`` from a plan. 1/±0 = ±Inf, 1/±Inf = ±0,
    NaN -> NaN; results below the smallest normal flush to ±0.
    Cut points: after 1/m, after rounding."""
    CUTS = 2
    DESIGN = staticmethod(reciprocal_design)

    def elaborate(self, platform):
        m, fmt, d = Module(), self.fmt, self.design
        x, p = self._start(m)
        y, moved = top_bit_set(m, self._function(m, d.plan, x.sig[:fmt.man_bits], "recip"), d.plan.out_range[0], "y")
        v = p.cut(y=y, moved=moved, exp=x.exp, sign=x.sign, zero=x.zero, inf=x.inf, nan=x.nan)
        top = wire(m, (-v.exp - d.plan.out_frac + len(y) - 1 - v.moved).as_signed(), "top")
        return self._finish(m, p, round_pack(m, fmt, v.sign, top, v.y, zero=v.inf, inf=v.zero, nan=v.nan,
                                             normalized=True))


class FixLn(_FixUnit):
    """``ln x``, faithful (see :class:`LnDesign`). ln(±0) = -Inf, ln(+Inf) = +Inf,
    ln(x < 0) and ln(-Inf) = NaN, ln(1) = +0.
    Cut points: after g(u), after the fixed-point sum, after rounding."""
    CUTS = 3
    DESIGN = staticmethod(ln_design)

    def elaborate(self, platform):
        m, fmt, d = Module(), self.fmt, self.design
        M = fmt.man_bits
        x, p = self._start(m)
        man = x.sig[:M]
        upper = man[-1]                                                  # m >= 1.5
        u = wire(m, Mux(upper, Cat(man, Const(0, 1)).as_signed() - (1 << M), Cat(Const(0, 1), man)).as_signed(), "u")
        g = self._function(m, d.plan, man, "ln_ratio")
        v = p.cut(g=g, u=u, e=(x.exp + upper).as_signed(), special=x.zero | x.inf | x.sign | x.nan,
                  out_special=Mux(x.nan | (x.sign & ~x.zero), fmt.qnan,
                                  Mux(x.zero, fmt.inf | fmt.sign_bit, fmt.inf)))
        shift = d.frac - (M + 1) - d.plan.out_frac
        total = wire(m, (v.e * d.ln2 + ((v.u * v.g) << shift)).as_signed(), "sum")
        mag = wire(m, Mux(total < 0, -total, total)[:len(total) - 1], "mag")
        v = p.cut(mag=mag, sign=total < 0, special=v.special, out_special=v.out_special)
        top = len(mag) - 1 - d.frac
        out = round_pack(m, fmt, v.sign, Const(top, range(min(top, 0) - 1, max(top, 0) + 1)), v.mag)
        return self._finish(m, p, Mux(v.special, v.out_special, out))


def _neg_exp(m, d, x, name="z"):
    """``z = e**-|x| = 2**k * Y / 2**out_frac`` (:class:`SoftDesign`): ``k`` (<= -1) and ``Y``,
    whose MSB is set. Valid below ``2**d.e_sat``."""
    amount = wire(m, (d.shift0 - x.exp).as_signed(), f"{name}_shift")
    t_mag, _ = shift_right_sticky(m, _const_mul(m, x.sig, d.log2e, f"{name}_product"), Mux(amount < 0, 0, amount).as_unsigned(), f"{name}_t")
    t = wire(m, (~Cat(t_mag, Const(0, 1))).as_signed(), f"{name}_t_neg")         # -T - 1
    return t[d.frac:].as_signed(), t[:d.frac]


class _FixSoft(_FixUnit):
    """The shared front of :class:`FixSigmoid` and :class:`FixLogSigmoid`: z = e**-|x| as
    (k, Y) beside the plan of |x| in fixed point, and their product."""
    CUTS = 4

    def _front(self, m, x, p):
        d = self.design
        big = ~x.zero & (x.exp >= d.exp.e_sat)
        k, f = _neg_exp(m, d.exp, x)
        a_fix = _a_fix(m, self.fmt, x, d.a_int_bits, d.a_frac)
        v = p.cut(k=k, f=f, a_fix=a_fix, sign=x.sign, exp=x.exp, sig=x.sig, nan=x.nan, raw=self.i.payload.a.as_value(),
                  big=big | x.inf)
        y = self._function(m, d.exp.plan, v.f, "exp2")                 # in [2**of, 2**(of + 1))
        if d.z_frac is None:
            r = self._function(m, d.plan, v.a_fix, self.FUNCTION)
        else:                                                           # z * 2**z_frac, truncated
            z_fix, _ = shift_right_sticky(m, y, (d.exp.plan.out_frac - d.z_frac - v.k).as_unsigned(), "z_fix")
            r = self._function(m, d.plan, z_fix[:d.z_frac], self.FUNCTION)
        v = p.cut(k=v.k, y=y, r=r, sign=v.sign, exp=v.exp, sig=v.sig, nan=v.nan, raw=v.raw, big=v.big)
        raw = wire(m, v.y * v.r, "product")                           # z * r * 2**(of + of2 - k)
        prod = raw[:(d.exp.plan.out_range[1] * d.plan.out_range[1]).bit_length()]
        prod, moved = top_bit_set(m, prod, d.exp.plan.out_range[0] * d.plan.out_range[0], "product")
        top = wire(m, (v.k + len(prod) - 1 - d.exp.plan.out_frac - d.plan.out_frac - moved).as_signed(), "product_top")
        return v, raw, prod, top


class FixSigmoid(_FixSoft):
    """``1/(1 + e**-x)``, faithful (see :class:`SigmoidDesign`, or :class:`SoftDesign` where
    that does not fit). sigmoid(+Inf) = 1, sigmoid(-Inf) = +0, NaN -> NaN. Cut points: after
    |x| log2(e) and a, after t, after 2**f, after packing (:class:`SoftDesign`: after t,
    after the two plans, after the product, after rounding)."""
    DESIGN = staticmethod(sigmoid_design)
    FUNCTION = "sigmoid"

    def elaborate(self, platform):
        m, fmt, d = Module(), self.fmt, self.design
        x, p = self._start(m)
        if isinstance(d, SigmoidDesign):
            return self._one_exponential(m, x, p)
        v, _, prod, top_p = self._front(m, x, p)
        r, moved = top_bit_set(m, v.r, d.plan.out_range[0], "r")
        top_r = wire(m, (len(r) - 1 - d.plan.out_frac - moved).as_signed(), "top_r")
        wide = max(len(prod), len(r))                                         # zeros below: the same top
        sig = Mux(v.sign, Cat(Const(0, wide - len(prod)), prod), Cat(Const(0, wide - len(r)), r))
        v = p.cut(sig=sig, top=Mux(v.sign, top_p, top_r), sign=v.sign, nan=v.nan, big=v.big)
        out = round_pack(m, fmt, 0, v.top, v.sig, zero=v.big & v.sign, nan=v.nan, normalized=True)
        one = Const(fmt.bias << fmt.man_bits, fmt.width)
        return self._finish(m, p, Mux(v.big & ~v.sign & ~v.nan, one, out))

    def _one_exponential(self, m, x, p):
        fmt, d, e = self.fmt, self.design, self.design.exp
        F = e.frac + 1
        neg = wire(m, x.sign & ~x.zero, "neg")
        big = ~x.zero & (x.exp >= e.e_sat)
        amount = wire(m, (e.shift0 - x.exp).as_signed(), "t_shift")      # >= 0 below e_sat
        T, _ = shift_right_sticky(m, _const_mul(m, x.sig, e.log2e, "t_product"), Mux(amount < 0, 0, amount).as_unsigned(), "t")
        a_fix = _a_fix(m, fmt, x, d.a_int, d.a_frac, rounded=True)
        v = p.cut(T=T, a_fix=a_fix, neg=neg, nan=x.nan, lo=neg & (big | x.inf), one=~neg & (a_fix >= d.a_one),
                  half=x.zero | (x.exp < d.e_half))
        g = self._function(m, d.g, v.a_fix, "log2_sigmoid")                 # log2 sigmoid(a), F fraction bits
        minus = wire(m, (~Cat(Const(0, 1), v.T, Const(0, 1))).as_signed(), "minus_t")    # -(2T + 1)
        t = wire(m, Mux(v.neg, minus, 0) + g, "t_sum")
        v = p.cut(k=t[F:].as_signed(), f=t[:F], nan=v.nan, lo=v.lo, one=v.one, half=v.half)
        y, biased = exp_significand(m, fmt, e.plan, v.k, v.f)
        v = p.cut(y=y, biased=biased, nan=v.nan, lo=v.lo | (biased <= 0), one=v.one, half=v.half)
        out = Mux(v.nan, fmt.qnan, Mux(v.half, (fmt.bias - 1) << fmt.man_bits, Mux(v.one, fmt.bias << fmt.man_bits, Mux(
            v.lo, 0, Cat(v.y, v.biased[:fmt.exp_bits], 0)))))
        return self._finish(m, p, wire(m, out, "packed"))


class FixLogSigmoid(_FixSoft):
    """``ln sigmoid(x) = -ln(1 + e**-x)``, faithful (see :class:`SoftDesign`): the state
    unit of FLASH-D's chain. logsigmoid(+Inf) = -0, logsigmoid(-Inf) = -Inf, NaN -> NaN.
    Cut points: after t, after the two plans, after the sum, after rounding."""
    DESIGN = staticmethod(lambda fmt: soft_design(fmt, "logsigmoid"))
    FUNCTION = "logsigmoid"

    def elaborate(self, platform):
        m, fmt, d = Module(), self.fmt, self.design
        M, e_sat, fs = fmt.man_bits, d.exp.e_sat, d.sum_frac
        x, p = self._start(m)
        v, raw, prod, top_p = self._front(m, x, p)
        # x < 0: |x| + z*g in fixed point (fs fraction bits); |x| = sig * 2**(e - M)
        a_amount = wire(m, (M + e_sat - v.exp).as_signed(), "a_shift")
        a, _ = shift_right_sticky(m, Cat(Const(0, fs + e_sat), v.sig), Mux(a_amount < 0, 0, a_amount).as_unsigned(), "a")
        term, _ = shift_right_sticky(m, raw, (d.exp.plan.out_frac + d.plan.out_frac - fs - v.k).as_unsigned(), "term")
        total = wire(m, Cat(Const(1, 1), a + term), "sum")      # + half a step: the floors lose that on average
        top_s = len(total) - 2 - fs                               # the sum's MSB weight, before the count
        top_s, total = normalize(m, Const(top_s, range(-len(total) - abs(top_s), len(total) + abs(top_s))), total, "sum")
        wide = max(len(prod), len(total))
        sig = Mux(v.sign, Cat(Const(0, wide - len(total)), total), Cat(Const(0, wide - len(prod)), prod))
        v = p.cut(sig=sig, top=Mux(v.sign, top_s, top_p), sign=v.sign, nan=v.nan, raw=v.raw, big=v.big)
        out = round_pack(m, fmt, 1, v.top, v.sig, zero=v.big & ~v.sign, nan=v.nan, normalized=True)
        return self._finish(m, p, Mux(v.big & v.sign & ~v.nan, v.raw, out))      # x itself (-Inf too)


FIX_UNITS = {"exp": FixExp, "reciprocal": FixReciprocal, "ln": FixLn, "sigmoid": FixSigmoid,
             "logsigmoid": FixLogSigmoid}
