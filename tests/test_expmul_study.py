"""The ExpMul study (verif.expmul_study): the log-add product scales exactly by powers of 2
and within Mitchell's error otherwise; on synthetic heads a fine table keeps each engine's
error and the log-add lanes lose accuracy in both."""

import numpy as np
import pytest

from flashd.hdl.format import as_format
from flashd.verif import model
from flashd.verif.accuracy import evaluate, synthetic_qkv
from flashd.verif.designs import engine_params
from flashd.verif.expmul_study import fa2_lanes, flashd_lanes, log2_scale

BF16 = as_format("bf16")


def test_the_log_add_product_is_exact_for_powers_of_two_and_mitchell_otherwise():
    rng = np.random.default_rng(0)
    x = model.from_float("bf16", rng.uniform(-4, 4, 2000))
    for L in (0.0, -1.0, -5.0):
        assert np.array_equal(log2_scale(BF16, x, L, "logadd"),
                              model.from_float("bf16", model.to_float("bf16", x) * 2.0 ** L))
    L = -rng.uniform(0, 6, 2000)
    got = model.to_float("bf16", log2_scale(BF16, x, L, "logadd"))
    want = model.to_float("bf16", x) * np.exp2(L)
    rel = np.abs(got - want) / np.abs(want)
    assert 0.03 < rel.max() < 0.13                 # Mitchell's 2^f ~ 1 + f, twice: v's bits and the sum's
    table = model.to_float("bf16", log2_scale(BF16, x, L, "table8"))
    assert (np.abs(table - want) / np.abs(want)).max() < 2 ** -7


@pytest.mark.parametrize("design, run", [("fa2", fa2_lanes), ("flashd", flashd_lanes)])
def test_a_fine_table_keeps_the_error_and_log_add_loses_it(design, run):
    problems = []
    for seed in range(2):
        Q, K, V = synthetic_qkv(48, 16, seed, score_std=3.0)
        problems.append((f"synthetic{seed}", Q[0], K[0], V[0]))
    p = engine_params(design, d=16, fmt="bf16")
    rms = {mode: evaluate(p, problems, lambda p, q, k, v, mode=mode: run(p, q, k, v, lanes=mode))["rms_rel"]
           for mode in ("exact", "table8", "logadd")}
    assert rms["table8"] < 1.15 * rms["exact"] and rms["logadd"] > 1.3 * rms["exact"], rms


def test_a_bad_lane_product_is_named():
    with pytest.raises(ValueError, match=r"lanes='mul' is not allowed \(allowed: exact, table1..table16, logadd\)"):
        log2_scale(BF16, np.zeros(1, dtype=np.uint64), 0.0, "mul")
