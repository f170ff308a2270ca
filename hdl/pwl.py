"""Piecewise-linear tables for the nonlinear units, fitted here from the functions.

The reduced argument of every table is a significand ``m`` in [1, 2), split into
``segments`` equal pieces by its top ``log2(segments)`` fraction bits, so the hardware
decode is a wire slice. On each piece the line ``a*m + b`` is the minimax (equal-ripple)
line of the function, found from the chord slope and the tangent point where
``f'(xi) == slope`` (exact for the convex or concave functions used here); a piece that
must hit a known value at an end (ln m = 0 at m = 1 and at m = 2) uses the chord through
that end instead. Coefficients are rounded to nearest even into the unit's format.

``python -m flashd.scripts.cli coeffs --func ln --fmt bf16 --segments 8`` prints a table.
"""

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from .format import as_format, check_int

__all__ = ["FUNCTIONS", "SEGMENT_CHOICES", "check_segments", "fit", "coefficients", "round_to_format"]

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


def _ln_reduced(m, u):
    # ln m on [1, 1.5); ln(m/2) on [1.5, 2): the unit adds (e+1)*ln2 there, so results near
    # x = 1 from below come out without cancellation.
    return math.log(m) if u < 1.5 else math.log(m / 2)


FUNCTIONS = {
    "reciprocal": TableFunction("reciprocal", lambda m, u: 1.0 / m, lambda m: -1.0 / (m * m)),
    "ln": TableFunction("ln", _ln_reduced, lambda m: 1.0 / m, pinned=(1.0, 2.0)),
}


def check_segments(segments, fmt):
    """``segments`` must be a power of two in SEGMENT_CHOICES that the format's fraction can index."""
    if segments not in SEGMENT_CHOICES:
        raise ValueError(f"segments={segments!r} is not allowed (allowed: {', '.join(map(str, SEGMENT_CHOICES))})")
    bits = segments.bit_length() - 1
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


def fit(name, segments):
    """``[(a, b), ...]`` in float64 for each of ``segments`` equal pieces of [1, 2)."""
    if name not in FUNCTIONS:
        raise ValueError(f"func={name!r} is unknown (allowed: {', '.join(FUNCTIONS)})")
    check_int("segments", segments, 1)
    tf = FUNCTIONS[name]
    lines = []
    for i in range(segments):
        u, v = 1 + i / segments, 1 + (i + 1) / segments
        lines.append(_minimax_line(tf, u, v))
    return lines


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
    check_segments(segments, fmt)
    pinned = FUNCTIONS[name].pinned
    a_bits, b_bits = [], []
    for i, (a, b) in enumerate(fit(name, segments)):
        for v in (a, b):
            if not 2.0 ** fmt.emin <= abs(v) < 2.0 ** (fmt.emax + 1):
                raise ValueError(f"fmt={fmt} is too narrow for the {name} table: coefficient {v:.6g} "
                                 f"is outside its normal range [{2.0 ** fmt.emin:g}, {2.0 ** (fmt.emax + 1):g})")
        ab = round_to_format(fmt, a)
        a_bits.append(ab)
        if i == 0 and 1.0 in pinned:
            b_bits.append(ab ^ fmt.sign_bit)                            # b = -a
        elif i == segments - 1 and 2.0 in pinned:
            b_bits.append((ab + (1 << fmt.man_bits)) ^ fmt.sign_bit)    # b = -2a
        else:
            b_bits.append(round_to_format(fmt, b))
    return tuple(a_bits), tuple(b_bits)
