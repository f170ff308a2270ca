"""Bit-exact NumPy golden model of the floating-point operators.

One function per hardware operator, same parameters, bit patterns in and out (any integer
array-like; results are ``uint64`` arrays). Written from the definitions, not from the RTL:
every result is formed exactly with Python integers (object arrays) and rounded once by
:func:`round_pack`, so the RTL's guard/round/sticky datapath is checked against exact math.

Semantics (shared with the RTL by specification only):

- subnormal inputs are read as signed zero; results are rounded to nearest, ties to even,
  with an unbounded exponent, then flushed to signed zero if below the smallest normal;
- results beyond the largest finite value become Inf; every NaN result is ``fmt.qnan``;
- an exact zero sum is -0 only when every addend is -0 (round-to-nearest rule).
"""

import math

import numpy as np

from flashd.hdl.format import as_format
from flashd.hdl.pwl import EXP_RANGE, LSIG_GROUPS, coefficients, lsig_range, round_to_format, sigmoid_range, split_ln2

__all__ = ["unpack", "round_pack", "add", "mul", "fma", "compare", "convert", "dot",
           "dot_guard_bits", "decode", "to_float", "from_float", "logsigmoid"]

ZERO, NORMAL, INF, NAN = 0, 1, 2, 3
_bit_length = np.frompyfunc(int.bit_length, 1, 1)


def _ints(x):
    """Object array of Python ints (arbitrary width arithmetic)."""
    a = np.asarray(x)
    if a.dtype == object:
        return a
    return np.array(a.astype(np.uint64).tolist(), dtype=object).reshape(a.shape)


def _b(x):
    return np.asarray(x, dtype=bool)


def unpack(fmt, bits):
    """Split bit patterns into ``(sign, cls, exp, sig)``; value = sig * 2**(exp - man_bits)."""
    b = np.asarray(bits).astype(np.uint64)          # fields in uint64: patterns are <= 64 bits
    man = b & np.uint64(fmt.man_mask)
    efield = (b >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_mask)
    sign = (b >> np.uint64(fmt.width - 1)) & np.uint64(1)
    cls = np.where(efield == fmt.exp_mask, np.where(man == 0, INF, NAN), np.where(efield == 0, ZERO, NORMAL))
    sig = np.where(cls == NORMAL, man | np.uint64(1 << fmt.man_bits), np.uint64(0))
    exp = np.array((efield.astype(np.int64) - fmt.bias).tolist(), dtype=object).reshape(b.shape)
    return _ints(sign), cls, exp, _ints(sig)


def round_pack(fmt, sign, mag, exp2, nan=False, inf=False):
    """Round ``(-1)**sign * mag * 2**exp2`` (``mag`` an exact non-negative integer) into ``fmt``.

    Only the shifts of ``mag`` need Python integers; what is kept (at most p + 1 bits), the
    sticky bit and the exponent fit in int64."""
    sign, mag, exp2 = np.broadcast_arrays(np.asarray(sign), _ints(mag), np.asarray(exp2))
    p = fmt.precision
    length = _bit_length(mag).astype(np.int64)
    shift = length - p                      # > 0: bits to drop
    drop = np.maximum(shift, 0)
    below = np.maximum(drop - 1, 0).astype(object)   # bits under the round bit
    t = mag >> below
    sticky = _b((t << below) != mag)
    t = t.astype(np.int64)                  # the p kept bits and, when dropping, the round bit
    dropping = drop > 0
    q = np.where(dropping, t >> 1, t)
    up = dropping & ((t & 1) == 1) & (sticky | ((q & 1) == 1))
    q = q + up
    carry = dropping & (q == (1 << p))
    q = np.where(carry, q >> 1, q)
    q = np.where(shift < 0, q << np.maximum(-shift, 0), q)
    # q now has exactly p bits; its MSB weighs 2**e
    e = exp2.astype(np.int64) + drop + carry + np.minimum(shift, 0) + (p - 1)
    biased = e + fmt.bias
    zero = (length == 0) | (biased <= 0)
    overflow = biased >= fmt.exp_mask
    body = (np.clip(biased, 0, fmt.exp_mask).astype(np.uint64) << np.uint64(fmt.man_bits)) \
        | (q.astype(np.uint64) & np.uint64(fmt.man_mask))
    body = np.where(zero, np.uint64(0), body)
    body = np.where((overflow & ~zero) | _b(inf), np.uint64(fmt.inf), body)
    out = (sign.astype(np.uint64) << np.uint64(fmt.width - 1)) | body
    return np.where(_b(nan), np.uint64(fmt.qnan), out).astype(np.uint64)


def _signed_sum(terms):
    """Exact sum of ``(sign, sig, exp2)`` terms: returns ``(sign, mag, exp2)``."""
    base = terms[0][2]
    for _, _, e in terms[1:]:
        base = np.minimum(base, e)
    total = 0
    for s, sig, e in terms:
        v = sig << (e - base).astype(object)
        total = total + np.where(_b(s == 1), -v, v)
    total = _ints(total)
    return _b(total < 0).astype(object), np.abs(total), base


def _add_terms(fmt, t1, t2):
    """Round the exact sum of two signed terms ``(sign, cls, exp2, sig)`` into ``fmt``."""
    (s1, c1, e1, m1), (s2, c2, e2, m2) = t1, t2
    neg, mag, base = _signed_sum([(s1, m1, e1), (s2, m2, e2)])
    sign = np.where(_b(mag == 0), s1 & s2, neg)
    nan = (c1 == NAN) | (c2 == NAN) | ((c1 == INF) & (c2 == INF) & _b(s1 != s2))
    inf = (c1 == INF) | (c2 == INF)
    sign = np.where(c1 == INF, s1, np.where(c2 == INF, s2, sign))
    return round_pack(fmt, sign, mag, base, nan=nan, inf=inf)


def add(fmt, a, b, sub=0):
    """``a + b`` (``a - b`` where ``sub`` is 1), one rounding."""
    fmt = as_format(fmt)
    sa, ca, ea, ma = unpack(fmt, a)
    sb, cb, eb, mb = unpack(fmt, b)
    sb = sb ^ _ints(sub)
    return _add_terms(fmt, (sa, ca, ea - fmt.man_bits, ma), (sb, cb, eb - fmt.man_bits, mb))


def _product(fmt, a, b):
    """Exact product term ``(sign, cls, exp2, sig)``; Inf*0 is NaN."""
    sa, ca, ea, ma = unpack(fmt, a)
    sb, cb, eb, mb = unpack(fmt, b)
    nan = (ca == NAN) | (cb == NAN) | ((ca == INF) & (cb == ZERO)) | ((ca == ZERO) & (cb == INF))
    inf = (ca == INF) | (cb == INF)
    zero = (ca == ZERO) | (cb == ZERO)
    cls = np.where(nan, NAN, np.where(inf, INF, np.where(zero, ZERO, NORMAL)))
    return sa ^ sb, cls, ea + eb - 2 * fmt.man_bits, ma * mb


def mul(fmt, a, b):
    """``a * b``, one rounding."""
    fmt = as_format(fmt)
    s, cls, e2, sig = _product(fmt, a, b)
    return round_pack(fmt, s, sig, e2, nan=cls == NAN, inf=cls == INF)


def fma(fmt_in, fmt_out, a, b, c):
    """``a * b + c`` with a, b in ``fmt_in``, c and the result in ``fmt_out``, one rounding."""
    fmt_in, fmt_out = as_format(fmt_in, "fmt_in"), as_format(fmt_out, "fmt_out")
    sc, cc, ec, mc = unpack(fmt_out, c)
    return _add_terms(fmt_out, _product(fmt_in, a, b), (sc, cc, ec - fmt_out.man_bits, mc))


def _order_key(fmt, bits):
    """Signed integer that orders finite and infinite values (both zeros -> 0)."""
    s, cls, _, _ = unpack(fmt, bits)
    mag = np.where(cls == ZERO, 0, _ints(bits) & (fmt.sign_bit - 1))
    return np.where(_b(s == 1), -mag, mag), s, cls


def compare(fmt, a, b):
    """IEEE comparison plus IEEE 754-2019 ``minimum``/``maximum``.

    Returns a dict of arrays: ``less``, ``equal``, ``greater``, ``unordered`` (0/1) and ``min``,
    ``max`` (bit patterns). Any NaN operand: unordered=1, min=max=qnan. -0 < +0 for
    min/max only (they compare equal). Subnormal operands read, and are returned, as zero.
    """
    fmt = as_format(fmt)
    ka, sa, ca = _order_key(fmt, a)
    kb, sb, cb = _order_key(fmt, b)
    un = (ca == NAN) | (cb == NAN)
    lt, eq, gt = ~un & _b(ka < kb), ~un & _b(ka == kb), ~un & _b(ka > kb)

    def flushed(bits, s, cls):
        return np.where(cls == ZERO, s << (fmt.width - 1), _ints(bits))

    fa, fb = flushed(a, sa, ca), flushed(b, sb, cb)
    both_zero = (ca == ZERO) & (cb == ZERO)
    mx = np.where(lt, fb, fa)
    mn = np.where(gt, fb, fa)
    mx = np.where(both_zero, (sa & sb) << (fmt.width - 1), mx)
    mn = np.where(both_zero, (sa | sb) << (fmt.width - 1), mn)
    mx = np.where(un, fmt.qnan, mx)
    mn = np.where(un, fmt.qnan, mn)
    u64 = lambda v: np.array(_ints(v).tolist(), dtype=np.uint64).reshape(np.shape(v))
    return {"less": u64(lt.astype(int)), "equal": u64(eq.astype(int)), "greater": u64(gt.astype(int)),
            "unordered": u64(un.astype(int)), "min": u64(mn), "max": u64(mx)}


def convert(fmt_in, fmt_out, a):
    """Convert from ``fmt_in`` to ``fmt_out`` (exact when widening, RNE when narrowing)."""
    fmt_in, fmt_out = as_format(fmt_in, "fmt_in"), as_format(fmt_out, "fmt_out")
    s, cls, e, sig = unpack(fmt_in, a)
    return round_pack(fmt_out, s, sig, e - fmt_in.man_bits, nan=cls == NAN, inf=cls == INF)


def dot_guard_bits(fmt_in, guard_bits=3, exact=False):
    """Window bits kept below the largest product's LSB; ``exact`` covers every possible shift."""
    fmt_in = as_format(fmt_in, "fmt_in")
    return 2 * (fmt_in.emax - fmt_in.emin) if exact else guard_bits


def dot(fmt_in, fmt_out, a, b, guard_bits=3, exact=False):
    """Fused dot product ``sum_j a[..., j] * b[..., j]``, one rounding into ``fmt_out``.

    Products are exact. Each is aligned to the largest product exponent ``E`` inside a
    window keeping ``guard_bits`` bits below the LSB of a product of exponent ``E``; bits
    shifted below the window are dropped (each term's magnitude truncated). The windowed
    sum is exact and rounded once. ``exact=True`` widens the window so nothing is dropped.
    A zero sum is -0 only when every product is -0.
    """
    fmt_in, fmt_out = as_format(fmt_in, "fmt_in"), as_format(fmt_out, "fmt_out")
    g = dot_guard_bits(fmt_in, guard_bits, exact)
    s, cls, e2, sig = _product(fmt_in, a, b)          # shapes (..., N)
    nonzero = cls == NORMAL
    lowest = 2 * (fmt_in.emin - fmt_in.man_bits) - 1
    emax2 = np.where(nonzero, e2, lowest).max(axis=-1, keepdims=True)
    shift = np.where(nonzero, emax2 - e2, 0).astype(object)
    aligned = np.where(nonzero, (sig << g) >> shift, 0).astype(object)
    total = np.where(_b(s == 1), -aligned, aligned).sum(axis=-1).astype(object)
    neg = _b(total < 0)
    mag = np.abs(total).astype(object)
    all_neg_zero = ((cls == ZERO) & _b(s == 1)).all(axis=-1)
    sign = np.where(_b(mag == 0), all_neg_zero, neg).astype(object)
    inf_p = (cls == INF) & _b(s == 0)
    inf_n = (cls == INF) & _b(s == 1)
    nan = (cls == NAN).any(axis=-1) | (inf_p.any(axis=-1) & inf_n.any(axis=-1))
    inf = inf_p.any(axis=-1) | inf_n.any(axis=-1)
    sign = np.where(inf, inf_n.any(axis=-1), sign).astype(object)
    return round_pack(fmt_out, sign, mag, emax2[..., 0] - g, nan=nan, inf=inf)


def to_float(fmt, bits):
    """float64 value of each pattern (subnormals read as zero), for reports and error statistics."""
    fmt = as_format(fmt)
    s, cls, e, sig = unpack(fmt, bits)
    with np.errstate(over="ignore"):               # beyond float64's range: inf, as the value is
        mag = np.ldexp(sig.astype(np.float64), (e - fmt.man_bits).astype(np.int64))
    mag = np.where(cls == INF, np.inf, np.where(cls == NAN, np.nan, mag))
    return np.where(_b(s == 1), -mag, mag)


def from_float(fmt, x):
    """Bit patterns of float64 values rounded once (nearest even) into ``fmt``; NaN -> qnan."""
    fmt = as_format(fmt)
    shape = np.shape(x)
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    frac, e = np.frexp(np.where(np.isfinite(x), np.abs(x), 0.0))
    mag = _ints((frac * 2.0 ** 53).astype(np.uint64))
    exp2 = np.array(e.astype(np.int64).tolist(), dtype=object).reshape(x.shape) - 53
    return round_pack(fmt, _ints(np.signbit(x).astype(np.uint64)), mag, exp2,
                      nan=np.isnan(x), inf=np.isinf(x)).reshape(shape)


def decode(fmt, bits):
    """``'0x3f80 (+1.0)'``: a pattern in hex and its value, for mismatch reports."""
    fmt = as_format(fmt)
    digits = (fmt.width + 3) // 4
    v = float(to_float(fmt, np.array([bits]))[0])
    sub = " subnormal->0" if (int(bits) >> fmt.man_bits) & fmt.exp_mask == 0 and int(bits) & fmt.man_mask else ""
    return f"0x{int(bits):0{digits}x} ({v:+.9g}{sub})"


def _table(fmt, name, segments, bits):
    """a[i] * m + b[i] with one rounding, m the significand of ``bits`` (shared table data)."""
    a_tab, b_tab = coefficients(name, fmt, segments)
    k = segments.bit_length() - 1
    man = _ints(bits) & fmt.man_mask
    idx = np.array((man >> (fmt.man_bits - k)).tolist(), dtype=np.int64).reshape(np.shape(man))
    a = np.asarray(a_tab, dtype=np.uint64)[idx]
    b = np.asarray(b_tab, dtype=np.uint64)[idx]
    m = np.array(((fmt.bias << fmt.man_bits) | man).tolist(), dtype=np.uint64).reshape(np.shape(man))
    return fma(fmt, fmt, a, m, b)


def reciprocal(fmt, x, segments=8):
    """Table-based ``1/x`` (see :class:`flashd.hdl.nonlinear.FPReciprocal`)."""
    fmt = as_format(fmt)
    s, cls, e, _ = unpack(fmt, x)
    _, _, pe, psig = unpack(fmt, _table(fmt, "reciprocal", segments, x))
    mag = np.where(cls == NORMAL, psig, 0).astype(object)
    return round_pack(fmt, s, mag, pe - e - fmt.man_bits, nan=cls == NAN, inf=cls == ZERO)


def ln(fmt, x, segments=8):
    """Table-based natural logarithm (see :class:`flashd.hdl.nonlinear.FPLn`)."""

    fmt = as_format(fmt)
    s, cls, e, _ = unpack(fmt, x)
    top = (_ints(x) >> (fmt.man_bits - 1)) & 1
    e1 = e + top
    e_bits = round_pack(fmt, _b(e1 < 0).astype(object), np.abs(e1), 0)
    t = _table(fmt, "ln", segments, x)
    ln2 = np.full(np.shape(t), round_to_format(fmt, math.log(2)), dtype=np.uint64)
    r = fma(fmt, fmt, e_bits, ln2, t)
    nan = (cls == NAN) | (_b(s == 1) & (cls != ZERO))
    r = np.where(cls == INF, fmt.inf, r)
    r = np.where(cls == ZERO, fmt.inf | fmt.sign_bit, r)
    return np.where(nan, fmt.qnan, r).astype(np.uint64)


def _symmetric_line(fmt, name, x, segments):
    """The table line of x's piece (one FMA) and whether |x| >= 2**e_hi (or Inf)."""
    e_hi = sigmoid_range(fmt)
    s, cls, e, sig = unpack(fmt, x)
    idx = _uniform_index(fmt, s, e, sig, e_hi, segments.bit_length() - 2)
    a_tab, b_tab = coefficients(name, fmt, segments)
    r = fma(fmt, fmt, np.asarray(a_tab, dtype=np.uint64)[idx], _ints(x), np.asarray(b_tab, dtype=np.uint64)[idx])
    big = (cls == INF) | ((cls == NORMAL) & _b(e >= e_hi))
    return r, big, s, cls


def logsigmoid(fmt, x, segments=8):
    """Table-based ln sigmoid(x) (see :class:`flashd.hdl.nonlinear.FPLogSigmoid`)."""
    fmt = as_format(fmt)
    a_tab, b_tab = coefficients("logsigmoid", fmt, segments)         # checks segments
    e_lo, e_hi = lsig_range(fmt)
    s, cls, e, sig = unpack(fmt, x)
    group = np.where((cls == NORMAL) & _b(e >= e_lo), np.minimum(e - e_lo + 1, LSIG_GROUPS - 1), 0)
    top = (_ints(x) & fmt.man_mask) >> (fmt.man_bits - (segments.bit_length() - 1))
    idx = np.array((s * LSIG_GROUPS * segments + group * segments + top).tolist(), dtype=np.int64).reshape(np.shape(sig))
    r = fma(fmt, fmt, np.asarray(a_tab, dtype=np.uint64)[idx], _ints(x), np.asarray(b_tab, dtype=np.uint64)[idx])
    big = (cls == INF) | ((cls == NORMAL) & _b(e >= e_hi))
    r = np.where(_b(r >> np.uint64(fmt.width - 1)), r, 0)          # clamp the line to <= 0
    r = np.where(big & _b(s == 0), 0, np.where(big, np.asarray(x, dtype=np.uint64), r))
    return np.where(cls == NAN, fmt.qnan, r).astype(np.uint64)


def sigmoid(fmt, x, segments=8):
    """Table-based logistic sigmoid (see :class:`flashd.hdl.nonlinear.FPSigmoid`)."""
    fmt = as_format(fmt)
    r, big, s, cls = _symmetric_line(fmt, "sigmoid", x, segments)
    one = fmt.bias << fmt.man_bits
    negative = _b(r >> np.uint64(fmt.width - 1))
    r = np.where(negative, 0, np.where(r > one, one, r))            # clamp the line into [+0, 1]
    r = np.where(big & _b(s == 0), fmt.bias << fmt.man_bits, np.where(big, 0, r))
    return np.where(cls == NAN, fmt.qnan, r).astype(np.uint64)


def _uniform_index(fmt, s, e, sig, e_hi, k):
    """Piece of a table of 2**k equal pieces of [0, 2**e_hi) per sign: floor(|x|*2**(k-e_hi)),
    saturating, computed exactly from the significand; the sign picks the half."""
    scale = e - fmt.man_bits + k - e_hi
    j = np.where(_b(scale >= 0), sig << np.maximum(scale, 0), sig >> np.maximum(-scale, 0))
    j = np.minimum(j, (1 << k) - 1)
    return np.array((s * (1 << k) + j).tolist(), dtype=np.int64).reshape(np.shape(sig))


def exp(fmt, x, segments=8):
    """Table-based e**x (see :class:`flashd.hdl.nonlinear.FPExp`)."""

    fmt = as_format(fmt)
    x = np.asarray(x, dtype=np.uint64)
    _, xcls, _, _ = unpack(fmt, x)
    n = np.shape(x)
    t = mul(fmt, x, np.full(n, round_to_format(fmt, 1 / math.log(2)), dtype=np.uint64))
    ts, tcls, te, tsig = unpack(fmt, t)
    # k = round(t) half away from zero, from 2|t| = sig * 2**(e - man + 1)
    sh = te - fmt.man_bits + 1
    two_t = np.where(_b(sh >= 0), tsig << np.maximum(sh, 0), tsig >> np.maximum(-sh, 0))
    k_mag = (two_t + 1) >> 1
    huge = (tcls == INF) | ((tcls == NORMAL) & _b(te >= fmt.exp_bits + 2))
    sat_hi = _b(ts == 0) & (huge | _b(k_mag > fmt.emax + 1))
    sat_lo = _b(ts == 1) & (huge | _b(k_mag > -fmt.emin))
    k_mag = np.where(sat_hi | sat_lo, 0, k_mag).astype(object)
    k = np.where(_b(ts == 1), -k_mag, k_mag).astype(object)
    neg_k = round_pack(fmt, 1 - ts, k_mag, 0)
    hi, lo = split_ln2(fmt)
    r = fma(fmt, fmt, neg_k, np.full(n, hi, dtype=np.uint64), x)
    r = fma(fmt, fmt, neg_k, np.full(n, lo, dtype=np.uint64), r)
    rs, _, re_, rsig = unpack(fmt, r)
    idx = _uniform_index(fmt, rs, re_, rsig, EXP_RANGE, segments.bit_length() - 2)
    a_tab, b_tab = coefficients("exp", fmt, segments)
    v = fma(fmt, fmt, np.asarray(a_tab, dtype=np.uint64)[idx], r, np.asarray(b_tab, dtype=np.uint64)[idx])
    _, _, ve, vsig = unpack(fmt, v)
    out = round_pack(fmt, 0, np.where(sat_lo, 0, vsig).astype(object), ve + k - fmt.man_bits, inf=sat_hi)
    return np.where(xcls == NAN, fmt.qnan, out).astype(np.uint64)
