"""The fixed-point weight-loop study (verif.loop_study): on synthetic heads, enough fraction
bits reach the floor with fp32 lanes, too few do not, a unit whose errors lean one way costs
more than one that rounds, and scores beyond the range are counted as saturated."""

import pytest

from flashd.verif.accuracy import evaluate, synthetic_qkv
from flashd.verif.designs import engine_params
from flashd.verif.loop_study import flashd_fixed_loop


@pytest.fixture(scope="module")
def problems():
    out = []
    for seed in range(2):
        Q, K, V = synthetic_qkv(48, 16, seed, score_std=3.0)
        out.append((f"synthetic{seed}", Q[0], K[0], V[0]))
    return out


def _rms(problems, acc, **kw):
    p = engine_params("flashd", d=16, fmt="bf16", acc_fmt=acc, scalar_fmt="fp32")
    counts = []

    def run(p, q, k, v):
        res = flashd_fixed_loop(p, q, k, v, **kw)
        counts.append(res.extra["saturated"])
        return res
    e = evaluate(p, problems, run)
    return e["rms_rel"], e["floor_rms_rel"], sum(counts)


def test_the_fixed_loop_reaches_the_floor_with_enough_bits(problems):
    wide, floor, saturated = _rms(problems, "fp32", frac=14)
    assert wide <= 1.1 * floor and saturated == 0
    narrow, _, _ = _rms(problems, "fp32", frac=4)
    assert narrow > 5 * wide
    leaning, _, _ = _rms(problems, "fp32", frac=8, rounding="floor")
    rounded, _, _ = _rms(problems, "fp32", frac=8)
    assert leaning > 1.5 * rounded


def test_scores_beyond_the_range_saturate(problems):
    clipped, _, saturated = _rms(problems, "fp32", frac=12, int_bits=1)
    wide, _, _ = _rms(problems, "fp32", frac=12, int_bits=6)
    assert saturated > 0 and clipped > 2 * wide


def test_bad_arguments_are_named():
    p = engine_params("flashd", d=2, fmt="bf16")
    with pytest.raises(ValueError, match=r"^rounding='up' is not allowed \(allowed: nearest, floor\)$"):
        flashd_fixed_loop(p, None, None, None, frac=8, rounding="up")
    with pytest.raises(ValueError, match=r"^frac=0 is out of range"):
        flashd_fixed_loop(p, None, None, None, frac=0)
    with pytest.raises(ValueError, match=r"^saturation='published': the fixed-point loop is of the exact form"):
        flashd_fixed_loop(engine_params("flashd", d=2, fmt="bf16", saturation="published"), None, None, None, frac=8)
