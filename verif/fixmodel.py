"""Bit-exact NumPy golden model of the faithful function units (:mod:`flashd.hdl.fixunits`).

Bit patterns in, ``uint64`` patterns out, as :mod:`flashd.verif.model`. The fixed-point
arithmetic is done on Python integers from the unit's design (its widths, constants and
function plan, whose own integer model is :meth:`~flashd.hdl.fixfunc.FixPlan.evaluate`),
and the one rounding is :func:`flashd.verif.model.round_pack`.
"""

import numpy as np

from flashd.hdl.fixunits import exp_design, ln_design, reciprocal_design
from flashd.hdl.format import as_format

from .model import INF, NAN, NORMAL, ZERO, round_pack, unpack

__all__ = ["exp", "reciprocal", "ln"]


def _int64(a):
    return np.array(np.asarray(a).tolist(), dtype=np.int64).reshape(np.shape(a))


def _objects(a):
    return np.array(np.asarray(a).tolist(), dtype=object).reshape(np.shape(a))


def exp(fmt, x):
    """Faithful e**x (see :class:`flashd.hdl.fixunits.ExpDesign`)."""
    fmt = as_format(fmt)
    d = exp_design(fmt)
    s, cls, e, sig = unpack(fmt, x)
    shift = np.maximum(d.shift0 - e, 0)                    # e >= e_sat saturates below
    t = (sig * d.log2e) >> shift
    t = np.where(s == 1, -t - 1, t)                         # |t| rounded up when x < 0
    k = t >> d.frac                                          # floor
    y = d.plan.evaluate(_int64(t & ((1 << d.frac) - 1)))
    big = (cls == INF) | ((cls == NORMAL) & (e >= d.e_sat).astype(bool))
    out = round_pack(fmt, 0, _objects(y), k - d.plan.out_frac, nan=cls == NAN, inf=big & (s == 0).astype(bool))
    return np.where(big & (s == 1).astype(bool) & (cls != NAN), np.uint64(0), out).astype(np.uint64)


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
