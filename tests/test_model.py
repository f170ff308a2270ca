"""The golden model against independent oracles.

- ``oracle`` (exact Fractions, a separate reference rounding): exhaustive fp8 pairs, and
  random plus corner cases for wider formats.
- numpy / ml_dtypes casts: an exact float64 result cast once into the format. ml_dtypes
  casts from float64 round twice (through float32: 1+2**-8+2**-30 gives bf16 1.0, not
  1.0078125), so only results exact in float32 are cast; numpy's float16 cast is direct.
  Results that are subnormal before rounding are left to the Fraction oracle (numpy rounds
  them on the subnormal grid, we round then flush).
"""


from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from flashd.hdl.format import PRESETS, as_format
from flashd.verif import model, oracle
from flashd.verif.registry import OpSpec
from flashd.verif.vectors import operand_pairs, special_values

# random vectors per test: make test, and make test-full (the `full` marker)
COUNTS = [pytest.param(4_000, id="quick"), pytest.param(100_000, marks=pytest.mark.full, id="full")]
NP_DTYPE = {"fp32": np.float32, "bf16": ml_dtypes.bfloat16, "fp16": np.float16,
            "fp8_e4m3": ml_dtypes.float8_e4m3, "fp8_e5m2": ml_dtypes.float8_e5m2}
UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32}


def to_np(fmt, bits):
    """float64 values of the patterns, subnormals read as signed zero (our input rule). NaN
    patterns become the quiet NaN first: converting a signalling NaN raises IEEE 'invalid'."""
    f = PRESETS[fmt]
    u = np.asarray(bits, dtype=np.uint64)
    nan = ((u >> np.uint64(f.man_bits)) & np.uint64(f.exp_mask) == f.exp_mask) & (u & np.uint64(f.man_mask) != 0)
    u = np.where(nan, np.uint64(f.qnan), u).astype(UINT[f.width])
    x = u.view(NP_DTYPE[fmt]).astype(np.float64)
    return np.where((np.abs(x) < 2.0 ** f.emin) & (x != 0), np.copysign(0.0, x), x)


def from_np(fmt, x):
    """Cast exact float64 values into ``fmt`` with one rounding; returns bits and a mask of
    the entries where that single rounding is guaranteed."""
    f = PRESETS[fmt]
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        x32 = x.astype(np.float32)
        ok = (x32.astype(np.float64) == x) | ~np.isfinite(x) if fmt not in ("fp16", "fp32") else np.ones(len(x), bool)
        src = x if fmt in ("fp16", "fp32") else x32
        bits = np.asarray(src.astype(NP_DTYPE[fmt])).view(UINT[f.width]).astype(np.uint64)
    ok &= (np.abs(x) >= 2.0 ** f.emin) | (x == 0) | ~np.isfinite(x)
    return bits, ok


def check_against(fmt, got, want, mask, operands):
    bad = np.flatnonzero(mask & (got != want))
    msg = "; ".join(f"{' '.join(model.decode(fmt, o[k]) for o in operands)}: model "
                    f"{model.decode(fmt, got[k])} oracle {model.decode(fmt, want[k])}" for k in bad[:5])
    assert len(bad) == 0, f"{len(bad)} mismatches: {msg}"


def all_pairs(bits):
    g = np.arange(1 << bits, dtype=np.uint64)
    return np.repeat(g, len(g)), np.tile(g, len(g))


def check_compare(fmt, a, b):
    """Every output of the model's comparator (less, equal, greater, unordered, min, max) on
    each pair, against the oracle's."""
    got = model.compare(fmt, a, b)
    want = [oracle.compare(fmt, int(x), int(y)) for x, y in zip(a, b, strict=True)]
    assert set(got) == set(want[0]), (sorted(got), sorted(want[0]))
    for f in got:
        w = np.array([v[f] for v in want], dtype=np.uint64)
        bad = np.flatnonzero(np.asarray(got[f], dtype=np.uint64) != w)
        assert len(bad) == 0, (f"{f}: {len(bad)} mismatches, e.g. {model.decode(fmt, a[bad[0]])} vs "
                               f"{model.decode(fmt, b[bad[0]])}: model {int(got[f][bad[0]]):#x}, oracle {int(w[bad[0]]):#x}")


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2"])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "compare"])
def test_fp8_exhaustive_vs_fraction_oracle(fmt, op):
    a, b = all_pairs(8)
    if op == "compare":
        check_compare(fmt, a, b)
        return
    if op == "sub":
        got, fn = model.add(fmt, a, b, 1), lambda x, y: oracle.add(fmt, x, y, 1)
    else:
        got, fn = getattr(model, op)(fmt, a, b), lambda x, y: getattr(oracle, op)(fmt, x, y)
    want = np.array([fn(int(x), int(y)) for x, y in zip(a, b, strict=True)], dtype=np.uint64)
    check_against(fmt, got, want, np.ones(len(a), bool), [a, b])


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2"])
def test_fp8_exhaustive_mul_add_vs_ml_dtypes(fmt):
    a, b = all_pairs(8)
    x, y = to_np(fmt, a), to_np(fmt, b)
    with np.errstate(invalid="ignore"):
        for got, exact in [(model.mul(fmt, a, b), x * y), (model.add(fmt, a, b), x + y)]:
            want, ok = from_np(fmt, exact)
            nan = np.isnan(exact)
            want = np.where(nan, PRESETS[fmt].qnan, want)
            assert ok.mean() > 0.8          # the check must cover most pairs
            check_against(fmt, got, want, ok, [a, b])


@pytest.mark.parametrize("fmt", ["bf16", "fp16", "fp32"])
@pytest.mark.parametrize("op", ["add", "mul"])
def test_random_vs_numpy(fmt, op):
    rng = np.random.default_rng(11)
    a, b = operand_pairs(fmt, 100_000, rng)
    a = np.concatenate([np.repeat(special_values(PRESETS[fmt]), 28), a])
    b = np.concatenate([np.tile(special_values(PRESETS[fmt]), 28), b])
    x, y = to_np(fmt, a), to_np(fmt, b)
    with np.errstate(invalid="ignore", over="ignore"):
        exact = x + y if op == "add" else x * y
    # float64 holds the exact result only if it needs <= 53 bits
    if op == "add":
        ea, eb = np.frexp(x)[1], np.frexp(y)[1]
        exact_ok = (np.abs(ea - eb) <= 53 - PRESETS[fmt].precision - 1) | (x == 0) | (y == 0)
    else:
        exact_ok = np.ones(len(a), bool)
    got = model.add(fmt, a, b) if op == "add" else model.mul(fmt, a, b)
    want, ok = from_np(fmt, exact)
    want = np.where(np.isnan(exact), PRESETS[fmt].qnan, want)
    ok &= exact_ok
    assert ok.sum() > 30_000          # the check must cover most of the vectors
    check_against(fmt, got, want, ok, [a, b])


@pytest.mark.parametrize("fmt", ["bf16", "fp16", "fp32"])
@pytest.mark.parametrize("op", ["add", "mul", "compare"])
@pytest.mark.parametrize("count", COUNTS)
def test_random_vs_fraction_oracle(fmt, op, count):
    rng = np.random.default_rng(12)
    a, b = operand_pairs(fmt, count, rng)
    sp = special_values(PRESETS[fmt])
    a, b = np.concatenate([np.repeat(sp, len(sp)), a]), np.concatenate([np.tile(sp, len(sp)), b])
    if op == "compare":
        check_compare(fmt, a, b)
        return
    got = getattr(model, op)(fmt, a, b)
    want = np.array([getattr(oracle, op)(fmt, int(x), int(y)) for x, y in zip(a, b, strict=True)], dtype=np.uint64)
    check_against(fmt, got, want, np.ones(len(a), bool), [a, b])


@pytest.mark.parametrize("fi,fo", [("bf16", "bf16"), ("fp16", "fp16"), ("fp32", "fp32"),
                                   ("fp8_e4m3", "fp8_e4m3"), ("bf16", "fp32"), ("fp16", "fp32")])
@pytest.mark.parametrize("count", COUNTS)
def test_fma_vs_fraction_oracle(fi, fo, count):
    rng = np.random.default_rng(13)
    ins = OpSpec(op="fma", fmt=fi, fmt_out=fo).inputs(count // 2, rng)
    got = model.fma(fi, fo, ins["a"], ins["b"], ins["c"])
    want = np.array([oracle.fma(fi, fo, int(x), int(y), int(z)) for x, y, z in zip(ins["a"], ins["b"], ins["c"], strict=True)],
                    dtype=np.uint64)
    check_against(fo, got, want, np.ones(len(got), bool), [ins["c"]])


@pytest.mark.parametrize("fi", list(PRESETS))
@pytest.mark.parametrize("fo", ["fp32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2"])
def test_convert_vs_ml_dtypes(fi, fo):
    """Every 8/16-bit input (random fp32 ones); float32 holds each input exactly, so the
    float32 -> fo cast is a single rounding."""
    f = PRESETS[fi]
    if f.width <= 16:
        a = np.arange(1 << f.width, dtype=np.uint64)
    else:
        a, _ = operand_pairs(fi, 200_000, np.random.default_rng(14))
    x = to_np(fi, a)
    got = model.convert(fi, fo, a)
    want, ok = from_np(fo, x)
    want = np.where(np.isnan(x), PRESETS[fo].qnan, want)
    check_against(fo, got, want, ok, [a])
    if f.emax <= PRESETS[fo].emax and f.precision <= PRESETS[fo].precision and f.emin >= PRESETS[fo].emin:
        back = model.convert(fo, fi, got)        # widening is exact: the round trip is the identity
        flushed = np.where(np.abs(to_np(fi, a)) < 2.0 ** f.emin, a & np.uint64(f.sign_bit), a)
        nan = np.isnan(to_np(fi, a))
        assert np.array_equal(back[~nan], flushed[~nan])


@pytest.mark.parametrize("fi,fo,n", [("fp8_e4m3", "fp8_e4m3", 4), ("fp8_e5m2", "fp16", 3),
                                      ("bf16", "bf16", 4), ("bf16", "fp32", 8), ("fp16", "fp16", 1)])
@pytest.mark.parametrize("count", COUNTS)
def test_dot_exact_window_vs_fraction_oracle(fi, fo, n, count):
    """With ``exact=True`` nothing is dropped, so the result is the correctly rounded sum."""
    rng = np.random.default_rng(15)
    ins = OpSpec(op="dot", fmt=fi, n=n).inputs(count // 4, rng)
    got = model.dot(fi, fo, ins["a"], ins["b"], exact=True)
    want = np.array([oracle.dot_exact(fi, fo, [int(v) for v in x], [int(v) for v in y])
                     for x, y in zip(ins["a"], ins["b"], strict=True)], dtype=np.uint64)
    check_against(fo, got, want, np.ones(len(got), bool), [])


@pytest.mark.parametrize("fi,n,g", [("bf16", 4, 3), ("bf16", 16, 0), ("fp16", 8, 3), ("fp8_e4m3", 4, 1)])
def test_dot_window_error_bound(fi, n, g):
    """Dropping bits below the window costs at most ``n`` window LSBs before the final
    rounding: |model - exact| <= n * 2**(E - 2*man_bits - g) + half an ulp of the result
    (computed here in exact fractions)."""
    f = PRESETS[fi]
    rng = np.random.default_rng(16)
    ins = OpSpec(op="dot", fmt=fi, n=n).inputs(1500, rng)
    got = model.dot(fi, "fp32", ins["a"], ins["b"], guard_bits=g)
    exact_bits = model.dot(fi, "fp32", ins["a"], ins["b"], exact=True)
    differ = 0
    for k in range(len(got)):
        vals = [(oracle.value(fi, x), oracle.value(fi, y)) for x, y in zip(ins["a"][k], ins["b"][k], strict=True)]
        if any(not isinstance(v, Fraction) and not isinstance(v, tuple) for p in vals for v in p):
            continue
        prods = [(x if isinstance(x, Fraction) else 0) * (y if isinstance(y, Fraction) else 0) for x, y in vals]
        nz = [abs(p) for p in prods if p != 0]
        if not nz:
            continue
        E = max(int(np.floor(np.log2(float(p)))) if float(p) > 0 else -10**6 for p in nz)
        # E above is the exponent of the largest product; its LSB weight is 2**(E - 2*man_bits)
        # (products lie in [1,4) * 2**(ea+eb), so allow one more for products in [2,4)).
        bound_drop = n * Fraction(2) ** (E + 1 - 2 * f.man_bits - g)
        r = oracle.value("fp32", int(got[k]))
        if isinstance(r, tuple):
            r = Fraction(0)
        if not isinstance(r, Fraction):
            continue
        half_ulp = Fraction(2) ** (int(np.floor(np.log2(float(abs(r))))) - 24) if r != 0 else Fraction(2) ** -149
        assert abs(r - sum(prods)) <= bound_drop + half_ulp, (k, float(r), float(sum(prods)))
        differ += int(got[k] != exact_bits[k])
    if g == 0:
        assert differ > 0, "a window with no guard bits should sometimes differ from the exact sum"


def test_fma_rounds_once():
    """a*b = 2**-8 * (1 + 2**-8 - 2**-15): rounded alone it is 2**-8, and 1 + 2**-8 is then
    a tie that goes to 1.0; the fused sum lies above the tie and gives 1 + 2**-7."""
    a, b, c = 0x3F81, 0x3B7F, 0x3F80                 # bf16 1+2**-7, 2**-9*(2-2**-7), 1.0
    assert model.fma("bf16", "bf16", [a], [b], [c])[0] == 0x3F81
    assert oracle.fma("bf16", "bf16", a, b, c) == 0x3F81
    two_roundings = model.add("bf16", model.mul("bf16", [a], [b]), [c])[0]
    assert two_roundings == 0x3F80


@pytest.mark.parametrize("fmt", ["e2m1", "e3m2"])
@pytest.mark.parametrize("op", ["add", "mul", "compare"])
def test_tiny_formats_exhaustive_vs_fraction_oracle(fmt, op):
    a, b = all_pairs(as_format(fmt).width)
    got = getattr(model, op)(fmt, a, b)
    for k in range(len(a)):
        want = getattr(oracle, op)(fmt, int(a[k]), int(b[k]))
        if op == "compare":
            assert all(int(got[f][k]) == v for f, v in want.items()), (fmt, a[k], b[k])
        else:
            assert int(got[k]) == want, (model.decode(fmt, a[k]), model.decode(fmt, b[k]),
                                         model.decode(fmt, got[k]), model.decode(fmt, want))


@pytest.mark.parametrize("fmt", ["e6m4", "e11m52"])
@pytest.mark.parametrize("count", COUNTS)
def test_wide_and_odd_formats_vs_fraction_oracle(fmt, count):
    rng = np.random.default_rng(17)
    n = count // 4
    a, b = operand_pairs(fmt, n, rng)
    c, _ = operand_pairs(fmt, n, rng)
    for name, got, fn in [
        ("add", model.add(fmt, a, b), lambda k: oracle.add(fmt, int(a[k]), int(b[k]))),
        ("mul", model.mul(fmt, a, b), lambda k: oracle.mul(fmt, int(a[k]), int(b[k]))),
        ("fma", model.fma(fmt, fmt, a, b, c), lambda k: oracle.fma(fmt, fmt, int(a[k]), int(b[k]), int(c[k]))),
    ]:
        bad = [k for k in range(n) if int(got[k]) != fn(k)]
        assert not bad, (name, [(model.decode(fmt, a[k]), model.decode(fmt, b[k])) for k in bad[:3]])
