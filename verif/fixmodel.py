"""Bit-exact NumPy golden model of the faithful function units (:mod:`flashd.hdl.fixunits`).

Bit patterns in, ``uint64`` patterns out, as :mod:`flashd.verif.model`. The fixed-point
arithmetic is done on Python integers from the unit's design (its widths, constants and
function plan, whose own integer model is :meth:`~flashd.hdl.fixfunc.FixPlan.evaluate`),
and the one rounding is :func:`flashd.verif.model.round_pack` (the exponential, the sigmoid
and FLASH-D's weight have none: their plan gives the significand, :func:`_significand`).
"""

import numpy as np

from flashd.hdl.fixloop import loop_design, weight_design
from flashd.hdl.fixunits import (
    SigmoidDesign,
    exp_design,
    ln_design,
    reciprocal_design,
    sigmoid_design,
    soft_design,
)
from flashd.hdl.format import as_format

from .model import INF, NAN, NORMAL, ZERO, round_pack, to_float, unpack

__all__ = ["exp", "reciprocal", "ln", "sigmoid", "logsigmoid", "score_to_fixed", "loop_step", "loop_weight"]


def _int64(a):
    return np.array(np.asarray(a).tolist(), dtype=np.int64).reshape(np.shape(a))


def _objects(a):
    return np.array(np.asarray(a).tolist(), dtype=object).reshape(np.shape(a))


def _significand(fmt, plan, t, frac):
    """2**t (``frac`` fraction bits) from an ``exp2`` plan that gives the significand, no
    rounding (a plan output of 2 carries into the exponent): the biased exponent and the
    pattern, +0 where that is <= 0 (below the smallest normal; overflow is the caller's)."""
    y = plan.evaluate(_int64(t & ((1 << frac) - 1)))
    biased = _int64(t >> frac) + fmt.bias + (y >> (fmt.man_bits + 1))
    out = (np.clip(biased, 0, fmt.exp_mask).astype(np.uint64) << np.uint64(fmt.man_bits)) | (y & fmt.man_mask).astype(np.uint64)
    return biased, np.where(biased <= 0, np.uint64(0), out)


def exp(fmt, x):
    """Faithful e**x (see :class:`flashd.hdl.fixunits.ExpDesign`)."""
    fmt = as_format(fmt)
    d = exp_design(fmt)
    s, cls, e, sig = unpack(fmt, x)
    shift = np.maximum(d.shift0 - e, 0)                    # e >= e_sat saturates below
    t = (sig * d.log2e) >> shift
    t = np.where(s == 1, -t - 1, t)                         # |t| rounded up when x < 0
    biased, out = _significand(fmt, d.plan, t, d.frac)
    big = (cls == INF) | ((cls == NORMAL) & (e >= d.e_sat).astype(bool))
    out = np.where((biased >= fmt.exp_mask) | (big & (s == 0).astype(bool)), np.uint64(fmt.inf), out)
    out = np.where(big & (s == 1).astype(bool), np.uint64(0), out)
    one = (cls == ZERO) | ((cls == NORMAL) & (e < d.e_one).astype(bool))
    out = np.where(one, np.uint64(fmt.bias << fmt.man_bits), out)
    return np.where(cls == NAN, np.uint64(fmt.qnan), out).astype(np.uint64)


def reciprocal(fmt, x):
    """Faithful 1/x (see :class:`flashd.hdl.fixunits.RecipDesign`)."""
    fmt = as_format(fmt)
    d = reciprocal_design(fmt)
    s, cls, e, sig = unpack(fmt, x)
    y = d.plan.evaluate(_int64(sig & fmt.man_mask))
    out = round_pack(fmt, s, _objects(y), -e - d.plan.out_frac, nan=cls == NAN, inf=cls == ZERO)
    signed_zero = s.astype(np.uint64) << np.uint64(fmt.width - 1)
    return np.where(cls == INF, signed_zero, out).astype(np.uint64)


def ln(fmt, x):
    """Faithful natural logarithm (see :class:`flashd.hdl.fixunits.LnDesign`)."""
    fmt = as_format(fmt)
    d = ln_design(fmt)
    M = fmt.man_bits
    s, cls, e, sig = unpack(fmt, x)
    man = sig & fmt.man_mask
    upper = man >> (M - 1)
    u = np.where(upper == 1, man - (1 << M), 2 * man)
    g = _objects(d.plan.evaluate(_int64(man)))
    total = (e + upper) * d.ln2 + ((u * g) << (d.frac - (M + 1) - d.plan.out_frac))
    out = round_pack(fmt, (total < 0).astype(object), np.abs(total), -d.frac)
    out = np.where(cls == INF, np.uint64(fmt.inf), out)
    out = np.where(cls == ZERO, np.uint64(fmt.inf | fmt.sign_bit), out)
    nan = (cls == NAN) | (((s == 1).astype(bool)) & (cls != ZERO))
    return np.where(nan, np.uint64(fmt.qnan), out).astype(np.uint64)


def _soft(fmt, function, x):
    """z = e**-|x| as (k, y), the second plan's r of |x| in fixed point, and what saturates."""
    d = soft_design(fmt, function)
    e_ = d.exp
    s, cls, e, sig = unpack(fmt, x)
    t = -((sig * e_.log2e) >> np.maximum(e_.shift0 - e, 0)) - 1      # -|t| rounded down
    k = t >> e_.frac
    y = _objects(e_.plan.evaluate(_int64(t & ((1 << e_.frac) - 1))))
    a = _a_fix(fmt, e, sig, cls, d.a_int_bits, d.a_frac)
    if d.z_frac is not None:                                          # the plan of z, truncated
        a = _int64(y) >> np.minimum(e_.plan.out_frac - d.z_frac - _int64(k), 63)
    r = _objects(d.plan.evaluate(_int64(a)))
    big = (cls == INF) | ((cls == NORMAL) & (e >= e_.e_sat).astype(bool))
    return d, s, cls, e, sig, k, y, r, big


def _a_fix(fmt, e, sig, cls, a_int, a_frac, rounded=False):
    """|x| * 2**a_frac, truncated (or ``rounded`` to nearest even), saturating at
    2**(a_int + a_frac) - 1."""
    shift = e - fmt.man_bits + a_frac
    a = np.where(shift >= 0, sig << np.maximum(shift, 0), sig >> np.maximum(-shift, 0))
    if rounded:
        drop = np.maximum(-shift, 0)
        rest = sig - (a << drop)                                      # the bits dropped, of 2**drop
        twice = 2 * rest
        full = np.ones_like(drop) << drop
        a = a + ((twice > full) | ((twice == full) & (a % 2 == 1))).astype(object)
    top = (1 << (a_int + a_frac)) - 1
    return np.where(((cls == NORMAL) & (e >= a_int).astype(bool)) | (a > top), top, a)


def _sigmoid_exp(fmt, d, x):
    """The sigmoid as one exponential (:class:`flashd.hdl.fixunits.SigmoidDesign`)."""
    e_, F = d.exp, d.exp.frac + 1
    s, cls, e, sig = unpack(fmt, x)
    neg = (s == 1).astype(bool) & (cls != ZERO)
    T = (sig * e_.log2e) >> np.maximum(e_.shift0 - e, 0)               # |x| log2(e), F - 1 fraction bits
    a = _a_fix(fmt, e, sig, cls, d.a_int, d.a_frac, rounded=True)
    t = np.where(neg, -2 * T - 1, 0) + _objects(d.g.evaluate(_int64(a)))      # F fraction bits
    _, out = _significand(fmt, e_.plan, t, F)
    big = (cls == INF) | ((cls == NORMAL) & (e >= e_.e_sat).astype(bool))
    out = np.where(neg & big, np.uint64(0), out)
    out = np.where(~neg & ((a >= d.a_one) | (cls == INF)), np.uint64(fmt.bias << fmt.man_bits), out)
    half = (cls == ZERO) | ((cls == NORMAL) & (e < d.e_half).astype(bool))
    out = np.where(half, np.uint64((fmt.bias - 1) << fmt.man_bits), out)
    return np.where(cls == NAN, np.uint64(fmt.qnan), out).astype(np.uint64)


def sigmoid(fmt, x):
    """Faithful logistic sigmoid (see :class:`flashd.hdl.fixunits.SigmoidDesign`, and
    :class:`~flashd.hdl.fixunits.SoftDesign` where that does not fit)."""
    fmt = as_format(fmt)
    if isinstance(sigmoid_design(fmt), SigmoidDesign):
        return _sigmoid_exp(fmt, sigmoid_design(fmt), x)
    d, s, cls, _, _, k, y, r, big = _soft(fmt, "sigmoid", x)
    of, of2 = d.exp.plan.out_frac, d.plan.out_frac
    neg = (s == 1).astype(bool)
    out = round_pack(fmt, 0, np.where(neg, y * r, r), np.where(neg, k - of - of2, -of2))
    one = np.uint64(fmt.bias << fmt.man_bits)
    out = np.where(big, np.where(neg, np.uint64(0), one), out)
    return np.where(cls == NAN, np.uint64(fmt.qnan), out).astype(np.uint64)


def logsigmoid(fmt, x):
    """Faithful ln sigmoid(x) (see :class:`flashd.hdl.fixunits.SoftDesign`)."""
    fmt = as_format(fmt)
    d, s, cls, e, sig, k, y, g, big = _soft(fmt, "logsigmoid", x)
    of, of2, fs = d.exp.plan.out_frac, d.plan.out_frac, d.sum_frac
    neg = (s == 1).astype(bool)
    product = y * g                                                    # z * ln(1+z)/z * 2**(of + of2 - k)
    a = (sig << (fs + d.exp.e_sat)) >> np.maximum(fmt.man_bits + d.exp.e_sat - e, 0)   # |x| * 2**fs
    total = 2 * (a + (product >> (of + of2 - fs - k))) + 1                # + half a step, with fs + 1 bits
    out = round_pack(fmt, 1, np.where(neg, total, product), np.where(neg, -fs - 1, k - of - of2))
    out = np.where(big, np.where(neg, np.asarray(x, dtype=np.uint64), np.uint64(fmt.sign_bit)), out)
    return np.where(cls == NAN, np.uint64(fmt.qnan), out).astype(np.uint64)


# FLASH-D's fixed-point weight loop (:mod:`flashd.hdl.fixloop`): integers in, integers out

def score_to_fixed(fmt, frac, int_bits, s):
    """Scores (``fmt`` bits) as int64 ``round(s * 2**frac)``, to nearest even (float64 is
    exact here), saturating; ±Inf and NaN by their sign."""
    d = loop_design(frac, int_bits)
    fmt = as_format(fmt)
    x = to_float(fmt, s)
    neg = (np.asarray(s, dtype=np.uint64) >> np.uint64(fmt.width - 1)).astype(bool)
    with np.errstate(invalid="ignore"):
        S = np.round(np.where(np.isnan(x), np.where(neg, -np.inf, np.inf), x) * 2.0 ** frac)
    return np.clip(S, d.lo, d.hi).astype(np.int64)


def loop_step(frac, int_bits, dx, lw):
    """``(LW', A)`` from ``dx`` and the state ``lw`` (int64): ``A = dx + lw``,
    ``LW' = min(A, 0) - G(|A|)`` saturating (G's plan, 0 beyond its range)."""
    d = loop_design(frac, int_bits)
    a = np.asarray(dx, dtype=np.int64) + np.asarray(lw, dtype=np.int64)
    t = np.abs(a)
    near = t < (1 << (d.g_int + frac))
    g = np.where(near, d.plan.evaluate(np.where(near, t, 0)), 0)
    return np.maximum(np.minimum(a, 0) - g, d.lo), a


def loop_weight(fmt, frac, int_bits, lw):
    """``e**(lw / 2**frac)`` as ``fmt`` bits, faithful (:class:`~flashd.hdl.fixloop.WeightDesign`)."""
    fmt = as_format(fmt)
    d = weight_design(fmt, frac, int_bits)
    T = ((-np.asarray(lw, dtype=np.int64)).astype(object) * d.log2e) >> d.shift
    _, out = _significand(fmt, d.plan, -T - 1, d.frac)
    one = -np.asarray(lw, dtype=np.int64) <= d.one_below
    return np.where(one, np.uint64(fmt.bias << fmt.man_bits), out).astype(np.uint64)
