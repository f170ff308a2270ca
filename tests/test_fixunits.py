"""The faithful function units: every input of the 8- and 16-bit formats against a 50-digit
decimal oracle (the model), fp32 on random and targeted inputs (10**6 per unit in make
test-full), the circuit bit-exact with the model, specials exact."""

import math
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import numpy as np
import pytest

from flashd.hdl.fixunits import FIX_UNITS
from flashd.hdl.format import as_format
from flashd.verif import fixmodel
from flashd.verif.amasim import run_pipelined
from flashd.verif.characterize import sample
from flashd.verif.model import from_float, to_float
from flashd.verif.registry import OpSpec

FORMATS = ["e2m1", "e3m2", "fp8_e4m3", "fp8_e5m2", "e6m4", "bf16", "fp16", "e3m12"]   # e3m12: saturates late


def _true(op, x):
    """f(x) to 50 digits (exp: None where |x| > 1e5, beyond any format; there, e**-|x| is
    taken as 0 in the others)."""
    x = Decimal(float(x))
    if abs(x) > 100_000 and op != "ln" and op != "reciprocal":
        return {"exp": None, "sigmoid": Decimal(int(x > 0)), "logsigmoid": min(x, Decimal(0))}[op]
    return {"exp": lambda: x.exp(), "ln": lambda: x.ln(), "reciprocal": lambda: 1 / x,
            "sigmoid": lambda: 1 / (1 + (-x).exp()), "logsigmoid": lambda: -(1 + (-x).exp()).ln()}[op]()


def _nearest(t, fmt):
    """t rounded to nearest (ties to even) with the format's precision, exponent unbounded."""
    ulp = Decimal(2) ** (math.floor(math.log2(abs(t))) - fmt.man_bits)
    return (t / ulp).to_integral_value(ROUND_HALF_EVEN) * ulp


def _measure(op, fmt, xs=None):
    """Over every finite, nonzero input with a real result (of ``xs``, default all): for
    normal results the signed error in ulps of the result's binade and the signed distance
    from the correctly rounded result (0 or ±1 ulp when faithful); the inputs whose result
    is Inf or 0, with the true value."""
    xs = np.arange(1 << fmt.width, dtype=np.uint64) if xs is None else xs
    ys = getattr(fixmodel, op)(fmt, xs)
    xv, yv = to_float(fmt, xs), to_float(fmt, ys)
    errors, off, saturated = [], [], []
    with localcontext() as ctx:
        ctx.prec, ctx.Emax, ctx.Emin = 50, 10**6, -10**6
        for x, y in zip(xv, yv, strict=True):
            if not np.isfinite(x) or x == 0 or (op == "ln" and x < 0):
                continue
            t = _true(op, x)
            if y == 0 or not np.isfinite(y) or t is None:
                saturated.append((x, y, t))
                continue
            ulp = Decimal(2) ** (int(np.floor(np.log2(abs(y)))) - fmt.man_bits)
            errors.append(float((Decimal(float(y)) - t) / ulp))
            off.append(float((Decimal(float(y)) - _nearest(t, fmt)) / ulp))
    return np.array(errors), np.array(off), saturated


def _check_faithful(op, fmt, xs=None):
    errors, off, saturated = _measure(op, fmt, xs)
    assert len(errors) >= 1 and np.abs(errors).max() < 1.0
    # beyond correct rounding (whose own errors may all lean one way, as ln sigmoid(x ~ 0)
    # ~ -ln 2 does), the results do not lean one way
    assert abs(off.mean()) < 0.02 + 2 / math.sqrt(len(off)), off.mean()
    max_finite = Decimal(float(to_float(fmt, np.array([fmt.max_finite]))[0]))
    min_normal = Decimal(2) ** fmt.emin
    for x, y, t in saturated:
        if np.isinf(y):         # Inf only beyond the largest finite value
            assert t is None and x > 0 or t > max_finite, (x, y, t)
        else:                   # 0 only below the smallest normal (ln(1) = +0)
            assert t is None and x < 0 or abs(t) < min_normal, (x, y, t)


@pytest.mark.parametrize("op", list(FIX_UNITS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_input_is_faithful(op, fmt):
    _check_faithful(op, as_format(fmt))


@pytest.mark.parametrize("op", list(FIX_UNITS))
def test_fp32_is_faithful(op):
    """A sample; test_fp32_is_faithful_on_a_million_inputs (make test-full) the claim."""
    _check_faithful(op, as_format("fp32"), sample(op, "fp32", 6000, seed=1))


@pytest.mark.full
@pytest.mark.parametrize("op", list(FIX_UNITS))
def test_fp32_is_faithful_on_a_million_inputs(op):
    _check_faithful(op, as_format("fp32"), sample(op, "fp32"))


def test_specials_are_exact():
    for f in ["fp8_e4m3", "bf16", "fp16"]:
        fmt = as_format(f)
        pos_inf, neg_inf, nan = fmt.inf, fmt.inf | fmt.sign_bit, fmt.qnan
        x = np.array([0, fmt.sign_bit, pos_inf, neg_inf, nan, from_float(fmt, np.array([1.0]))[0]], dtype=np.uint64)
        one = int(from_float(fmt, np.array([1.0]))[0])
        assert fixmodel.exp(fmt, x).tolist() == [one, one, pos_inf, 0, nan, int(fixmodel.exp(fmt, x[5:])[0])]
        assert fixmodel.reciprocal(fmt, x).tolist() == [pos_inf, neg_inf, 0, fmt.sign_bit, nan, one]
        assert fixmodel.ln(fmt, x).tolist() == [neg_inf, neg_inf, pos_inf, nan, nan, 0]
        half = int(from_float(fmt, np.array([0.5]))[0])
        assert fixmodel.sigmoid(fmt, x[:5]).tolist() == [half, half, one, 0, nan]
        assert fixmodel.logsigmoid(fmt, x[2:5]).tolist() == [fmt.sign_bit, neg_inf, nan]
        negative = from_float(fmt, np.array([-2.0, -0.5]))
        assert fixmodel.ln(fmt, negative).tolist() == [nan, nan]


def _simulate(op, fmt, xs, stages=0):
    """The output on every cycle, the inputs followed by ``stages`` idle cycles."""
    dut = FIX_UNITS[op](fmt, stages=stages)
    assert dut.latency == stages
    got = run_pipelined(dut, [{"a": x} for x in xs], stages, first=0)
    return np.array([g.as_bits() for g in got], dtype=np.uint64)


@pytest.mark.parametrize("op", list(FIX_UNITS))
@pytest.mark.parametrize("fmt, stages", [("fp8_e4m3", 0), ("e3m2", 2), ("bf16", 0), ("fp16", 3), ("fp32", 2)])
def test_the_circuit_is_the_model(op, fmt, stages):
    """Every input of an 8-bit format, 1,500 random ones of a 16-bit format (every bf16 and
    fp16 input goes through the Verilog on Verilator: verif/test_ops_rtl.py), 1,500 of fp32's
    targeted."""
    f = as_format(fmt)
    xs = np.arange(1 << f.width, dtype=np.uint64) if f.width <= 8 else sample(op, f, 1500, seed=5) if f.width == 32 \
        else np.random.default_rng(5).integers(0, 1 << f.width, 1500).astype(np.uint64)
    got, want = _simulate(op, f, xs, stages), getattr(fixmodel, op)(f, xs)
    assert (got[stages:] == want).all()
    if stages:                              # one cycle early is wrong: the latency is the design's
        assert (got[stages - 1:-1] != want).any()


def test_formats_beyond_the_planner_are_refused():
    for op in FIX_UNITS:
        unit = {"ln": "logarithm", "exp": "exponential"}.get(op, op)
        with pytest.raises(ValueError, match=rf"^fmt=e8m24: the fixed-point {unit} is planned up to fp32's precision "
                                             r"\(allowed: formats with at most 23 fraction bits\)$"):
            OpSpec(op=op, fmt="e8m24", method="fix")
    with pytest.raises(ValueError, match=r"^segments=8 does not apply to method='fix'"):
        OpSpec(op="exp", fmt="bf16", method="fix", segments=8)
    with pytest.raises(ValueError, match=r"^method='exact' is not a method of sigmoid \(allowed: fix, pwl\)$"):
        OpSpec(op="sigmoid", fmt="bf16", method="exact")
