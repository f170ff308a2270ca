"""Independent scalar oracle for the golden model: exact ``Fraction`` arithmetic and a
reference rounding written without the model's integer tricks (slow; for checking only).
"""

from fractions import Fraction
from functools import lru_cache

from flashd.hdl.format import as_format

NAN = "nan"


def _pow2(e):
    return Fraction(1 << e) if e >= 0 else Fraction(1, 1 << -e)


def _exponent(a):
    """floor(log2(a)) of a positive Fraction, exactly: with n, m the bit lengths of its numerator
    and denominator, 2^(n-m-1) < a < 2^(n-m+1)."""
    e = a.numerator.bit_length() - a.denominator.bit_length()
    return e - 1 if a < _pow2(e) else e


@lru_cache(maxsize=1 << 16)
def value(fmt, bits):
    """Exact value of a pattern: a Fraction, ``±inf`` as float, ``'nan'``; zero keeps its sign as ``(0, sign)``."""
    fmt = as_format(fmt)
    bits = int(bits)
    sign = bits >> (fmt.width - 1)
    e = (bits >> fmt.man_bits) & fmt.exp_mask
    f = bits & fmt.man_mask
    if e == fmt.exp_mask:
        return NAN if f else (float("-inf") if sign else float("inf"))
    if e == 0:
        return (0, sign)
    v = Fraction(f + (1 << fmt.man_bits), 1 << fmt.man_bits) * _pow2(e - fmt.bias)
    return -v if sign else v


def encode(fmt, x, zero_sign=0):
    """Round an exact Fraction (or special) to nearest-even into ``fmt``, then flush below min normal."""
    fmt = as_format(fmt)
    if x == NAN:
        return fmt.qnan
    if isinstance(x, tuple):
        return x[1] << (fmt.width - 1)
    if isinstance(x, float):
        return fmt.inf | (fmt.sign_bit if x < 0 else 0)
    if x == 0:
        return zero_sign << (fmt.width - 1)
    sign = 1 if x < 0 else 0
    a = abs(x)
    ulp = _pow2(_exponent(a) - fmt.man_bits)
    n, rem = divmod(a, ulp)
    if rem > ulp / 2 or (rem == ulp / 2 and n % 2 == 1):
        n += 1
    r = n * ulp
    if r >= _pow2(fmt.emax + 1):
        return fmt.inf | (sign << (fmt.width - 1))
    if r < _pow2(fmt.emin):
        return sign << (fmt.width - 1)
    e = _exponent(r)
    frac = int(r / _pow2(e - fmt.man_bits)) - (1 << fmt.man_bits)
    return (sign << (fmt.width - 1)) | ((e + fmt.bias) << fmt.man_bits) | frac


def _is_zero(v):
    return isinstance(v, tuple)


def _num(v):
    return 0 if _is_zero(v) else v


def _sign(v):
    if _is_zero(v):
        return v[1]
    return 1 if v < 0 else 0


def add(fmt, a, b, sub=0):
    fmt = as_format(fmt)
    x, y = value(fmt, a), value(fmt, b)
    if sub:
        y = (0, 1 - y[1]) if _is_zero(y) else (NAN if y == NAN else -y)
    return _sum(fmt, x, y)


def _sum(fmt, x, y):
    if x == NAN or y == NAN:
        return fmt.qnan
    if isinstance(x, float) or isinstance(y, float):
        if isinstance(x, float) and isinstance(y, float) and x != y:
            return fmt.qnan
        return encode(fmt, x if isinstance(x, float) else y)
    s = _num(x) + _num(y)
    both_neg_zero = int(_sign(x) == 1 and _sign(y) == 1 and s == 0)
    return encode(fmt, s, zero_sign=both_neg_zero)


def _mul_value(x, y):
    if x == NAN or y == NAN:
        return NAN
    sign = _sign(x) ^ _sign(y)
    if isinstance(x, float) or isinstance(y, float):
        if _is_zero(x) or _is_zero(y):
            return NAN
        return float("-inf") if sign else float("inf")
    if _is_zero(x) or _is_zero(y):
        return (0, sign)
    return x * y


def mul(fmt, a, b):
    fmt = as_format(fmt)
    return encode(fmt, _mul_value(value(fmt, a), value(fmt, b)))


def fma(fmt_in, fmt_out, a, b, c):
    fmt_in, fmt_out = as_format(fmt_in), as_format(fmt_out)
    p = _mul_value(value(fmt_in, a), value(fmt_in, b))
    return _sum(fmt_out, p, value(fmt_out, c))


def convert(fmt_in, fmt_out, a):
    return encode(as_format(fmt_out), value(as_format(fmt_in), a))


def compare(fmt, a, b):
    fmt = as_format(fmt)
    x, y = value(fmt, a), value(fmt, b)
    if x == NAN or y == NAN:
        return {"less": 0, "equal": 0, "greater": 0, "unordered": 1, "min": fmt.qnan, "max": fmt.qnan}
    nx, ny = _num(x), _num(y)
    fx, fy = encode(fmt, x), encode(fmt, y)
    if nx == ny and _is_zero(x) and _is_zero(y):
        mn = (_sign(x) | _sign(y)) << (fmt.width - 1)
        mx = (_sign(x) & _sign(y)) << (fmt.width - 1)
    else:
        mn, mx = (fx, fy) if nx <= ny else (fy, fx)
    return {"less": int(nx < ny), "equal": int(nx == ny), "greater": int(nx > ny), "unordered": 0,
            "min": mn, "max": mx}


def dot_exact(fmt_in, fmt_out, a, b):
    """Correctly rounded dot product (what ``exact=True`` must give)."""
    fmt_in, fmt_out = as_format(fmt_in), as_format(fmt_out)
    prods = [_mul_value(value(fmt_in, x), value(fmt_in, y)) for x, y in zip(a, b, strict=True)]
    if any(p == NAN for p in prods):
        return fmt_out.qnan
    infs = {p for p in prods if isinstance(p, float)}
    if len(infs) == 2:
        return fmt_out.qnan
    if infs:
        return encode(fmt_out, infs.pop())
    s = sum(_num(p) for p in prods)
    all_neg_zero = int(all(_is_zero(p) and p[1] == 1 for p in prods))
    return encode(fmt_out, s, zero_sign=all_neg_zero if s == 0 else 0)
