"""Piecewise-linear tables for the nonlinear units, fitted here from the functions.

reciprocal and ln tabulate a significand ``m`` in [1, 2), split into ``segments`` equal
pieces by its top ``log2(segments)`` fraction bits (the decode is a wire slice). sigmoid
tabulates x itself: ``segments/2`` equal pieces of [0, 2**e_hi) for each sign (see
:func:`sigmoid_range`). On each piece the line ``a*x + b`` is the minimax (equal-ripple)
line of the function, found from the chord slope and the tangent point where
``f'(xi) == slope`` (exact for functions whose derivative is monotone on the piece); a piece
that must hit a known value at an end (ln m = 0 at m = 1 and 2; e^0 = 1) uses the chord
through that end instead. exp tabulates its reduced argument r in [-1, 1) like sigmoid. logsigmoid (FLASH-D's
log-weight) needs a small absolute error everywhere, so it splits each binade of |x| below
2**e_hi into ``segments`` pieces by the top fraction bits (see :func:`lsig_range`). Coefficients are rounded to nearest even into the format.

``python -m flashd.scripts.cli coeffs --func ln --fmt bf16 --segments 8`` prints a table.
"""

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from .format import as_format, check_int

__all__ = ["FUNCTIONS", "SEGMENT_CHOICES", "EXP_RANGE", "check_segments", "exponent_check", "fit", "intervals", "sigmoid_range",
           "coefficients", "round_to_format", "split_ln2", "SYMMETRIC", "lsig_range", "LSIG_GROUPS"]

SEGMENT_CHOICES = (2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class TableFunction:
    """What a table approximates on m in [1, 2): ``f(m, u)`` on the segment starting at
    ``u`` (a function may change branch at a segment boundary), its derivative, and the
    m values where the line must interpolate exactly (``pinned``, each a root of f)."""
    name: str
    f: object
    df: object
    pinned: tuple = ()
    flush_tiny: bool = False     # a coefficient below the smallest normal may flush to 0


def _ln_reduced(m, u):
    # ln m on [1, 1.5); ln(m/2) on [1.5, 2): the unit adds (e+1)*ln2 there, so results near
    # x = 1 from below come out without cancellation.
    return math.log(m) if u < 1.5 else math.log(m / 2)


def _sigmoid(x, u=0.0):
    return 1.0 / (1.0 + math.exp(-x))


def _exp(x, u=0.0):
    return math.exp(x)


def _logsigmoid(x, u=0.0):
    # ln sigmoid(x) = -ln(1 + e^-x), written so neither side overflows or cancels
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


FUNCTIONS = {
    "reciprocal": TableFunction("reciprocal", lambda m, u: 1.0 / m, lambda m: -1.0 / (m * m)),
    "ln": TableFunction("ln", _ln_reduced, lambda m: 1.0 / m, pinned=(1.0, 2.0)),
    # not pinned at sigmoid(0) = 1/2: an exact midpoint would double the first piece's error
    # the far negative tail's slopes are below fp16's smallest normal: they flush to 0
    "sigmoid": TableFunction("sigmoid", _sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x)), flush_tiny=True),
    # e^r for the reduced argument r = x - k*ln2, |r| < 1; pinned so that exp(0) = 1 exactly
    "exp": TableFunction("exp", _exp, math.exp, pinned=(0.0,)),
    # ln sigmoid(x): FLASH-D's log-weight chain; slope sigmoid(-x) flushes in the far positive tail
    "logsigmoid": TableFunction("logsigmoid", _logsigmoid, lambda x: _sigmoid(-x), flush_tiny=True),
}

SYMMETRIC = ("sigmoid", "exp")    # uniform tables over x itself, half the pieces per sign
LSIG_BINADES = 8                   # logsigmoid: binades [2**e, 2**(e+1)) below 2**e_hi, then one piece
LSIG_GROUPS = 16                   # index groups per sign: below e_lo, the binades, unused padding


def lsig_range(fmt):
    """``(e_lo, e_hi)`` of the log-sigmoid table: ``segments`` pieces in each binade from
    2**e_lo to 2**e_hi, one line on [0, 2**e_lo), saturation beyond 2**e_hi."""
    e_hi = sigmoid_range(fmt)
    return e_hi - LSIG_BINADES, e_hi

EXP_RANGE = 0          # the exp table covers |r| < 2**EXP_RANGE


def sigmoid_range(fmt):
    """``e_hi``: the smallest e with 1 - sigmoid(2**e) below half an ulp of 1, so every
    x >= 2**e_hi rounds to 1 (and sigmoid(-x) < 2**-(precision+1) is returned as 0)."""
    fmt = as_format(fmt)
    e = 0
    while 1.0 - _sigmoid(2.0 ** e) >= 2.0 ** -(fmt.precision + 1):
        e += 1
    return e


def intervals(name, segments, fmt=None):
    """The ``[u, v)`` pieces of each table entry, in table order."""
    if name == "logsigmoid":
        # index = sign * GROUPS * segments + group * segments + top fraction bits
        e_lo, e_hi = lsig_range(fmt)
        pos = [(0.0, 2.0 ** e_lo)] * segments
        for e in range(e_lo, e_hi):
            pos += [(2.0 ** e * (1 + j / segments), 2.0 ** e * (1 + (j + 1) / segments)) for j in range(segments)]
        pos += pos[-segments:] * (LSIG_GROUPS - 1 - LSIG_BINADES)       # padding, never selected
        return pos + [(-v, -u) for u, v in pos]
    if name in SYMMETRIC:
        side = segments // 2
        h = 2.0 ** (EXP_RANGE if name == "exp" else sigmoid_range(fmt)) / side
        pos = [(j * h, (j + 1) * h) for j in range(side)]
        return pos + [(-v, -u) for u, v in pos]          # index = sign * side + j
    return [(1 + i / segments, 1 + (i + 1) / segments) for i in range(segments)]


def exponent_check(fmt, func):
    """ln and exp use the exponent as an exact float: every |e| <= emax+1 must be exact."""
    if fmt.emax + 1 > (1 << fmt.precision):
        raise ValueError(f"fmt={fmt} is too narrow for {func}: exponents up to {fmt.emax + 1} need "
                         f"{(fmt.emax + 1).bit_length()} significant bits, it has {fmt.precision}")


def check_segments(segments, fmt, name="reciprocal"):
    """``segments`` must be a power of two in SEGMENT_CHOICES that the format can index
    (fraction bits for the m tables and for logsigmoid's pieces per binade; significand bits
    per sign for sigmoid and exp)."""
    if segments not in SEGMENT_CHOICES:
        raise ValueError(f"segments={segments!r} is not allowed (allowed: {', '.join(map(str, SEGMENT_CHOICES))})")
    bits = segments.bit_length() - 1
    if name in SYMMETRIC:
        if bits - 1 > fmt.precision:
            raise ValueError(f"segments={segments} needs {bits - 1} significand bits per sign, but {fmt} "
                             f"has {fmt.precision} (allowed for {fmt}: up to {2 << fmt.precision})")
        return segments
    if name == "logsigmoid" and segments > 32:
        raise ValueError(f"segments={segments} is too many for the logsigmoid table (pieces per binade; allowed: up to 32)")
    if bits > fmt.man_bits:
        raise ValueError(f"segments={segments} needs {bits} fraction bits to index, but {fmt} has "
                         f"{fmt.man_bits} (allowed for {fmt}: up to {1 << fmt.man_bits})")
    return segments


def _minimax_line(tf, u, v):
    """Equal-ripple line for a function with monotone derivative on [u, v]."""
    df = tf.df
    f = lambda m: tf.f(m, u)
    fu, fv = f(u), f(v)
    slope = (fv - fu) / (v - u)
    if u in tf.pinned or v in tf.pinned:          # chord through the pinned end
        return slope, fu - slope * u
    lo, hi = u, v                                  # tangent point: df(xi) == slope (bisection)
    increasing = df(v) > df(u)
    for _ in range(200):
        mid = (lo + hi) / 2
        if (df(mid) < slope) == increasing:
            lo = mid
        else:
            hi = mid
    xi = (lo + hi) / 2
    # error e(m) = f(m) - line(m) equals +-d at u and xi: centre the line between them
    b_chord = fu - slope * u
    b_tangent = f(xi) - slope * xi
    return slope, (b_chord + b_tangent) / 2


def fit(name, segments, fmt=None):
    """``[(a, b), ...]`` in float64, one line per piece of :func:`intervals`."""
    if name not in FUNCTIONS:
        raise ValueError(f"func={name!r} is unknown (allowed: {', '.join(FUNCTIONS)})")
    check_int("segments", segments, 1)
    return [_minimax_line(FUNCTIONS[name], u, v) for u, v in intervals(name, segments, fmt)]


def round_to_format(fmt, x):
    """Bits of float ``x`` rounded to nearest even into ``fmt`` (finite, normal range assumed)."""
    fmt = as_format(fmt)
    if x == 0:
        return 0
    q = Fraction(abs(x))
    e = math.floor(math.log2(abs(x)))
    if Fraction(2) ** e > q:
        e -= 1
    elif Fraction(2) ** (e + 1) <= q:
        e += 1
    scaled = q / Fraction(2) ** (e - fmt.man_bits)
    n = math.floor(scaled)
    rem = scaled - n
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2):
        n += 1
    if n == 2 << fmt.man_bits:
        n, e = n // 2, e + 1
    if not fmt.emin <= e <= fmt.emax:
        raise ValueError(f"coefficient {x!r} is outside the normal range of {fmt}")
    return (int(x < 0) << (fmt.width - 1)) | ((e + fmt.bias) << fmt.man_bits) | (n - (1 << fmt.man_bits))


@lru_cache(maxsize=None)
def coefficients(name, fmt, segments):
    """``(a_bits, b_bits)`` tuples for the table of ``name`` in ``fmt``.

    A line pinned at a root r (ln: m = 1 and m = 2) gets ``b = -r*a`` exactly after rounding,
    so the FMA returns exactly 0 there and small values near it keep their size.
    """
    fmt = as_format(fmt)
    check_segments(segments, fmt, name)
    pinned = FUNCTIONS[name].pinned
    a_bits, b_bits = [], []
    for i, (a, b) in enumerate(fit(name, segments, fmt)):
        if FUNCTIONS[name].flush_tiny:
            a, b = (0.0 if abs(v) < 2.0 ** fmt.emin else v for v in (a, b))
        for v in (a, b):
            if v == 0 and FUNCTIONS[name].flush_tiny:
                continue
            if not 2.0 ** fmt.emin <= abs(v) < 2.0 ** (fmt.emax + 1):
                raise ValueError(f"fmt={fmt} is too narrow for the {name} table: coefficient {v:.6g} "
                                 f"is outside its normal range [{2.0 ** fmt.emin:g}, {2.0 ** (fmt.emax + 1):g})")
        ab = round_to_format(fmt, a)
        a_bits.append(ab)
        if 0.0 in pinned:                                               # pieces touching 0
            u, v = intervals(name, segments, fmt)[i]
            if 0.0 in (u, v):
                b_bits.append(round_to_format(fmt, FUNCTIONS[name].f(0.0)))   # exp: b = 1 exactly
            else:
                b_bits.append(round_to_format(fmt, b))
        elif i == 0 and 1.0 in pinned:
            b_bits.append(ab ^ fmt.sign_bit)                            # b = -a
        elif i == segments - 1 and 2.0 in pinned:
            b_bits.append((ab + (1 << fmt.man_bits)) ^ fmt.sign_bit)    # b = -2a
        else:
            b_bits.append(round_to_format(fmt, b))
    return tuple(a_bits), tuple(b_bits)


def split_ln2(fmt):
    """LN2_HI = ln2 rounded to the format, LN2_LO = (ln2 - LN2_HI) rounded, or 0 where it is
    below the smallest normal (fp8_e4m3: 0.0056; k <= 8 there, so r errs by < 0.05)."""
    hi = round_to_format(fmt, math.log(2))
    e = ((hi >> fmt.man_bits) & fmt.exp_mask) - fmt.bias
    hi_value = Fraction((hi & fmt.man_mask) | (1 << fmt.man_bits), 1 << fmt.man_bits) * Fraction(2) ** e
    lo = float(Fraction(math.log(2)) - hi_value)
    return hi, (round_to_format(fmt, lo) if abs(lo) >= 2.0 ** fmt.emin else 0)
