"""FLASH-D's fixed-point weight loop (hdl/fixloop.py): each unit against an independent
oracle (decimal or exact fractions), the circuits bit-exact with the model, the engine's
parameters, and the loop's saturation reached by the engine bench's own stimulus."""

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest

from flashd.hdl.fixloop import FixLoopStep, FixWeight, ScoreToFixed, loop_design
from flashd.hdl.format import as_format
from flashd.hdl.params import FlashDParams, default_thresholds
from flashd.verif import fixmodel, model
from flashd.verif.amasim import run_pipelined
from flashd.verif.attention_bench import random_problem
from flashd.verif.bench import seed_from_env
from flashd.verif.model import from_float, to_float
from flashd.verif.test_engines_rtl import CASES

F, I = 12, 7


def test_g_is_faithful_on_every_input():
    """G(t) = ln(1 + e^-t) on every input of its plan against 40-digit decimals: within one
    step of 2^-F, and its errors do not lean one way (the state adds them key after key)."""
    d = loop_design(F, I)
    X = np.arange(1 << d.plan.in_bits, dtype=np.int64)
    Y = d.plan.evaluate(X)
    with localcontext() as ctx:
        ctx.prec = 40
        scale = Decimal(2) ** F
        err = np.array([float(Decimal(int(y)) - (1 + (-Decimal(int(x)) / scale).exp()).ln() * scale)
                        for x, y in zip(X, Y, strict=True)])
    assert np.abs(err).max() < 1.0 and abs(err.mean()) < 0.1
    assert abs(np.abs(err).max() - d.plan.max_err_ulp) < 1e-6


def test_the_step_is_min_a_0_less_g_and_saturates():
    """Every A the loop can see: LW' = ln sigmoid(A / 2^F) * 2^F within one step (float64
    here: G's plan was checked against decimals above), and -2^(I+F) where it would be below."""
    d = loop_design(F, I)
    a = np.arange(-3 * 2 ** (I + F) + 1, 2 ** (I + F + 1))
    lw, A = fixmodel.loop_step(F, I, a, np.zeros_like(a))
    assert (A == a).all()
    true = -np.logaddexp(0.0, -a / 2.0 ** F) * 2.0 ** F
    inside = true > d.lo + 1
    assert np.abs(lw[inside] - true[inside]).max() < 1.0
    assert (lw[true < d.lo] == d.lo).all() and lw.max() == 0


@pytest.mark.parametrize("fmt", ["bf16", "fp16", "fp32"])
def test_the_weight_is_faithful_for_every_state(fmt):
    """w = e^(LW / 2^F) for every state LW in [-2^(I+F), 0]: within one ulp of its binade,
    and +0 only where e^LW is below the smallest normal (float64 oracle: 2^-40 of an ulp)."""
    f, d = as_format(fmt), loop_design(F, I)
    lw = np.arange(d.lo, 1)
    w = to_float(f, fixmodel.loop_weight(f, F, I, lw))
    true = np.exp(lw / 2.0 ** F)
    normal = true >= 2.0 ** f.emin
    ulp = 2.0 ** (np.floor(np.log2(true[normal])) - f.man_bits)
    assert (np.abs(w[normal] - true[normal]) < ulp).all()
    assert (w[~normal] <= 2.0 ** f.emin).all() and w[-1] == 1.0
    # no lean beyond correct rounding (the nearest: float64's e^LW rounded into fmt)
    nearest = to_float(f, from_float(f, true[normal]))
    assert abs(np.mean((w[normal] - nearest) / ulp)) < 0.02


def test_scores_round_to_nearest_even_and_saturate():
    """Every bf16 score against exact fractions (Python's round: to nearest even)."""
    f, d = as_format("bf16"), loop_design(F, I)
    bits = np.arange(1 << 16, dtype=np.uint64)
    got = fixmodel.score_to_fixed(f, F, I, bits)
    x = to_float(f, bits)
    want = [d.hi if v != v and b < 0x8000 else d.lo if v != v else
            max(d.lo, min(d.hi, round(Fraction(v) * 2 ** F))) if abs(v) != float("inf") else (d.hi if v > 0 else d.lo)
            for v, b in zip(x.tolist(), bits.tolist(), strict=True)]
    assert got.tolist() == want


def _edges(lo, hi, n, rng):
    edges = [v for v in (lo, lo + 1, -1, 0, 1, hi - 1, hi) if lo <= v <= hi]
    return np.concatenate([edges, rng.integers(lo, hi + 1, n)]).astype(np.int64)


@pytest.mark.parametrize("fmt, stages", [("bf16", 0), ("fp32", 1)])
def test_score_circuit_is_the_model(fmt, stages):
    f = as_format(fmt)
    rng = np.random.default_rng(1)
    xs = np.concatenate([from_float(f, np.array([0.0, -0.0, 0.5 / 4096, 1.5 / 4096, 127.99, -128.0, 1e30, np.inf,
                                                 -np.inf, np.nan, 2.0 ** -130])),
                         from_float(f, rng.standard_normal(600) * 30)]).astype(np.uint64)
    got = run_pipelined(ScoreToFixed(f, F, I, stages=stages), [{"a": x} for x in xs], stages)
    assert [int(g.s) for g in got] == fixmodel.score_to_fixed(f, F, I, xs).tolist()
    assert [int(g.nan) for g in got] == np.isnan(to_float(f, xs)).astype(int).tolist()


@pytest.mark.parametrize("stages", [0, 2])
def test_step_circuit_is_the_model(stages):
    d, rng = loop_design(F, I), np.random.default_rng(2)
    dx = _edges(d.lo - d.hi, d.hi - d.lo, 800, rng)
    lw = _edges(d.lo, 0, 800, rng)
    dx, lw = dx[:len(lw)], lw[:len(dx)]
    dx[len(dx) // 2:] //= 64                                        # most near 0: G's range
    dut = FixLoopStep(F, I, stages=stages)
    got = run_pipelined(dut, [{"dx": a, "ndx": -a, "lw": b} for a, b in zip(dx, lw, strict=True)], stages)
    want_lw, want_a = fixmodel.loop_step(F, I, dx, lw)
    assert [(int(g.lw), int(g.a)) for g in got] == list(zip(want_lw.tolist(), want_a.tolist(), strict=True))


@pytest.mark.parametrize("fmt, stages", [("bf16", 0), ("fp32", 3)])
def test_weight_circuit_is_the_model(fmt, stages):
    d, rng = loop_design(F, I), np.random.default_rng(3)
    lw = np.concatenate([_edges(d.lo, 0, 400, rng), -rng.integers(0, 40 << F, 400)])
    got = run_pipelined(FixWeight(fmt, F, I, stages=stages), [{"a": x} for x in lw], stages)
    assert [g.as_bits() for g in got] == fixmodel.loop_weight(fmt, F, I, lw).tolist()


def test_parameters():
    p = FlashDParams(d=4, fmt="bf16", loop_frac=10)
    assert p.loop_int == 7 and p.module_name.endswith("_lf10") and p.as_dict()["loop_frac"] == 10
    assert FlashDParams(d=4, fmt="bf16", loop_frac=10, loop_int=3).module_name.endswith("_lf10_li3")
    # the default: fmt's precision + 4 (bf16 12), the floating-point loop beyond 20 bits or when units are asked for
    assert [FlashDParams(d=4, **kw).loop_frac for kw in (dict(fmt="bf16"), dict(fmt="fp16"), dict(fmt="fp32"),
                                                         dict(fmt="bf16", method="pwl"))] == [12, 15, None, None]
    assert FlashDParams(d=4, fmt="bf16", loop_frac=None).module_name.endswith("_lfnone")
    lo, hi = default_thresholds(as_format("bf16"))                # skip when a < lo: A < ceil(lo * 2^10)
    assert p.loop_thresholds() == (math.ceil(lo * 1024), math.floor(hi * 1024)) and lo * 1024 % 1
    for kw, msg in [(dict(loop_frac=None, loop_int=3), "loop_int=3 applies only with loop_frac"),
                    (dict(loop_frac=0), "loop_frac"), (dict(loop_frac=8, saturation="published"), "saturation='exact'"),
                    (dict(loop_frac=8, method="pwl"), "method='pwl' does not apply with loop_frac"),
                    (dict(loop_frac=8, lsig_segments=4), "lsig_segments=4 does not apply with loop_frac")]:
        with pytest.raises(ValueError, match=msg):
            FlashDParams(d=4, fmt="bf16", **kw)


def test_the_bench_saturates_the_loop():
    """The engine case with loop_int 2 (verif/test_engines_rtl.py) drives scores beyond ±4 in
    the rows it streams (the bench's own generator and seed): the saturating paths are in
    the bit-exact regression, beside scores inside the range."""
    name, _, kw, groups = next(c for c in CASES if "lf" in c[0])
    p, d = FlashDParams(**kw), loop_design(kw["loop_frac"], kw["loop_int"])
    rng = np.random.default_rng(seed_from_env())                   # as make_stimulus draws the groups
    for n in groups:
        q, k, _ = random_problem(p.fmt, p.d, n, p.interleave, rng)
        S = fixmodel.score_to_fixed(p.scalar_fmt, p.loop_frac, p.loop_int,
                                    model.dot(p.fmt, p.scalar_fmt, q[:, None, :], k, p.guard_bits))
        if n > 1:
            assert ((S == d.lo) | (S == d.hi)).any() and (np.abs(S) < d.hi).any(), (name, n)
