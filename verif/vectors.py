"""Stimuli: corner cases generated on purpose, structured random, and exhaustive sweeps.

Every generator takes a ``numpy.random.Generator``; a seed reproduces a run exactly.
"""

import numpy as np

from flashd.hdl.format import as_format

from . import model

__all__ = ["special_values", "operand_pairs", "two_operands", "one_operand", "fma_operands", "dot_operands"]


def _u64(x):
    return np.asarray(x, dtype=np.uint64)


def _pack(fmt, sign, exp, man):
    return _u64((np.asarray(sign, dtype=np.uint64) << np.uint64(fmt.width - 1))
                | (np.asarray(exp, dtype=np.uint64) << np.uint64(fmt.man_bits))
                | np.asarray(man, dtype=np.uint64))


def special_values(fmt):
    """Both signs of: zero, smallest/largest subnormal (flush), min normal (and next), one,
    1+ulp, 2-ulp, largest finite (and previous), Inf, quiet and signalling-pattern NaNs."""
    m, e = fmt.man_mask, fmt.exp_mask
    mags = [0, 1, m, fmt.min_normal, fmt.min_normal + 1, fmt.bias << fmt.man_bits,
            (fmt.bias << fmt.man_bits) + 1, (fmt.bias << fmt.man_bits) - 1,
            fmt.max_finite, fmt.max_finite - 1, fmt.inf, fmt.qnan, (e << fmt.man_bits) | 1,
            (e << fmt.man_bits) | m]
    mags = sorted(set(mags))
    return _u64(mags + [v | fmt.sign_bit for v in mags])


def _random_patterns(fmt, n, rng):
    return _u64(rng.integers(0, 1 << fmt.width, n, dtype=np.uint64))


def _mantissas(fmt, n, rng):
    """Random fractions, with all-ones, zero, one-bit and top-bit patterns over-represented."""
    man = rng.integers(0, fmt.man_mask + 1, n, dtype=np.uint64)
    pick = rng.integers(0, 8, n)
    man = np.where(pick == 0, fmt.man_mask, man)
    man = np.where(pick == 1, 0, man)
    man = np.where(pick == 2, np.uint64(1) << rng.integers(0, fmt.man_bits, n, dtype=np.uint64), man)
    return _u64(man)


def operand_pairs(fmt, n, rng):
    """``n`` (a, b) pairs: a quarter each of uniform patterns, nearby exponents (rounding,
    carries into the next binade, cancellation), products near overflow/underflow, and
    specials paired with anything."""
    fmt = as_format(fmt)
    q = n // 4
    a = [_random_patterns(fmt, q, rng)]
    b = [_random_patterns(fmt, q, rng)]
    # nearby exponents: exact ties, round-up into the next binade, massive cancellation
    ea = rng.integers(1, fmt.exp_mask, q)
    eb = np.clip(ea + rng.integers(-fmt.man_bits - 3, fmt.man_bits + 4, q), 1, fmt.exp_mask - 1)
    ma = _mantissas(fmt, q, rng)
    mb = np.where(rng.integers(0, 4, q) == 0, ma ^ np.uint64(1), _mantissas(fmt, q, rng))
    a.append(_pack(fmt, rng.integers(0, 2, q), ea, ma))
    b.append(_pack(fmt, rng.integers(0, 2, q), eb, mb))
    # products and sums near the ends of the exponent range
    ea = rng.integers(1, fmt.exp_mask, q)
    target = np.where(rng.integers(0, 2, q) == 0, 0, fmt.exp_mask) + rng.integers(-2, 3, q)
    eb = np.clip(target - ea + fmt.bias, 1, fmt.exp_mask - 1)
    a.append(_pack(fmt, rng.integers(0, 2, q), ea, _mantissas(fmt, q, rng)))
    b.append(_pack(fmt, rng.integers(0, 2, q), eb, _mantissas(fmt, q, rng)))
    # specials against specials and against random values
    rest = n - 3 * q
    sp = special_values(fmt)
    a.append(np.where(rng.integers(0, 2, rest) == 0, rng.choice(sp, rest), _random_patterns(fmt, rest, rng)))
    b.append(rng.choice(sp, rest))
    a, b = np.concatenate(a), np.concatenate(b)
    swap = rng.integers(0, 2, n).astype(bool)
    return _u64(np.where(swap, b, a)), _u64(np.where(swap, a, b))


def _all_pairs(fmt):
    g = np.arange(1 << fmt.width, dtype=np.uint64)
    return _u64(np.repeat(g, len(g))), _u64(np.tile(g, len(g)))


def _cross_specials(fmt):
    sp = special_values(fmt)
    return _u64(np.repeat(sp, len(sp))), _u64(np.tile(sp, len(sp)))


def _pairs(fmt, n, rng, exhaustive):
    if exhaustive and fmt.width <= 8:
        return _all_pairs(fmt)
    ca, cb = _cross_specials(fmt)
    ra, rb = operand_pairs(fmt, max(n - len(ca), 0), rng)
    return np.concatenate([ca, ra]), np.concatenate([cb, rb])


def _dot_inputs(fi, n_terms, count, rng):
    """Dot-product operands: uniform, mixed-sign huge and tiny terms, exactly cancelling
    pairs, and sprinkled specials."""
    a, b = (_u64(x.reshape(count, n_terms)) for x in operand_pairs(fi, count * n_terms, rng))
    rows = rng.integers(0, 4, count)
    # huge and tiny magnitudes of random sign in one row
    spread = rows == 1
    e = np.where(rng.integers(0, 2, (count, n_terms)) == 0,
                 rng.integers(max(1, fi.exp_mask - 4), fi.exp_mask, (count, n_terms)),
                 rng.integers(1, min(5, fi.exp_mask), (count, n_terms)))
    big = _pack(fi, rng.integers(0, 2, (count, n_terms)), e, _mantissas(fi, count * n_terms, rng).reshape(count, n_terms))
    one = _pack(fi, rng.integers(0, 2, (count, n_terms)), np.full((count, n_terms), fi.bias),
                _mantissas(fi, count * n_terms, rng).reshape(count, n_terms))
    a = np.where(spread[:, None], big, a)
    b = np.where(spread[:, None], one, b)
    # cancellation: term j+1 = -term j, so only the remainder survives
    cancel = (rows == 2) & (n_terms >= 2)
    if n_terms >= 2:
        a2, b2 = a.copy(), b.copy()
        a2[:, 1::2] = a[:, 0:n_terms - n_terms % 2:2]
        b2[:, 1::2] = b[:, 0:n_terms - n_terms % 2:2] ^ np.uint64(fi.sign_bit)
        a = np.where(cancel[:, None], a2, a)
        b = np.where(cancel[:, None], b2, b)
    return _u64(a), _u64(b)


# Stimulus generators of the operator registry (flashd.verif.registry): each takes an OpSpec,
# a vector count, a numpy Generator and whether to sweep every input where affordable.

def two_operands(spec, count, rng, exhaustive=False):
    """``a``, ``b`` (and ``sub`` for add): specials crossed, then :func:`operand_pairs`;
    every pair when ``exhaustive`` and the format has <= 8 bits."""
    a, b = _pairs(spec.fmt, count, rng, exhaustive)
    ins = {"a": a, "b": b}
    if spec.op == "add":
        ins["sub"] = _u64(rng.integers(0, 2, len(a)))
    return ins


def one_operand(spec, count, rng, exhaustive=False):
    """``a``: every input of a format of <= 8 bits (<= 16 when ``exhaustive``), else the
    specials and random patterns (ln: mostly positive, since negative inputs only give NaN)."""
    f = spec.fmt
    if f.width <= 8 or (exhaustive and f.width <= 16):
        return {"a": np.arange(1 << f.width, dtype=np.uint64)}
    pa, _ = operand_pairs(f, count, rng)
    if spec.op == "ln":
        pa = np.where(rng.integers(0, 4, len(pa)) > 0, pa & np.uint64(f.sign_bit - 1), pa)
    return {"a": np.concatenate([special_values(f), _u64(pa)])}


def fma_operands(spec, count, rng, exhaustive=False):
    """``a``, ``b`` as :func:`two_operands`; ``c`` random or within an ulp of ``-a*b``
    (massive cancellation against the exact product)."""
    fi, fo = spec.fmt, spec.fmt_out
    a, b = _pairs(fi, count, rng, False)
    c, _ = operand_pairs(fo, len(a), rng)
    near = model.fma(fi, fo, a, b, np.zeros_like(a)) ^ np.uint64(fo.sign_bit)
    near = near + rng.integers(0, 3, len(a)).astype(np.uint64) - np.uint64(1)   # +-1 ulp, wrapping
    near = _u64(near & np.uint64((1 << fo.width) - 1))
    c = np.where(rng.integers(0, 3, len(a)) == 0, near, c)
    return {"a": a, "b": b, "c": _u64(c)}


def dot_operands(spec, count, rng, exhaustive=False):
    """``a``, ``b`` of ``spec.n`` terms each: see :func:`_dot_inputs`."""
    a, b = _dot_inputs(spec.fmt, spec.n, count, rng)
    return {"a": a, "b": b}
