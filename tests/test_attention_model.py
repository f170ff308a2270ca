"""The engines' bit-exact models without a simulator: semantics (one-pair rows, NaN
propagation, shapes), the FLASH-D recurrence in float64, and accuracy bounds against
float64 softmax attention on random problems.

Bounds are the measured figures (README, "Attention engines") with ~25% headroom.
"""

import numpy as np
import pytest

from flashd.hdl.format import as_format
from flashd.verif import model
from flashd.verif.attention_bench import random_problem
from flashd.verif.attention_model import error_stats, softmax_attention
from flashd.verif.designs import engine_params, run_model

# --- model semantics ------------------------------------------------------------------

def _problem(fmt, d, n, rows, seed=1):
    return random_problem(fmt, d, n, rows, np.random.default_rng(seed))


def test_one_pair_rows_return_v():
    """N = 1: FLASH-D's o = v exactly (w_1 = 1); FA2's v * e^0 / 1, within the reciprocal
    table's error (1/1 from an 8-piece table is within 2 ulp)."""
    q, k, v = _problem("bf16", 6, 1, 5)
    fd = run_model(engine_params("flashd", d=6, fmt="bf16"), q, k, v).out
    assert np.array_equal(fd, v[:, 0])
    fa = model.to_float("bf16", run_model(engine_params("fa2", d=6, fmt="bf16"), q, k, v).out)
    ref = model.to_float("bf16", v[:, 0])
    assert np.all(np.abs(fa - ref) <= 2 * 2.0 ** -7 * np.abs(ref))


def test_flashd_recurrence_is_softmax_attention_in_float64():
    """The log-weight chain the FLASH-D engine implements (lw = ln sigmoid(dx + lw),
    w = e^lw, o += (v - o) w) equals softmax attention in float64 (no tables, no rounding)."""
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((9, 16)) * 0.8, rng.standard_normal((9, 50, 16)), rng.standard_normal((9, 50, 16))
    s = np.einsum("rd,rnd->rn", q, k)
    o, lw = v[:, 0].copy(), np.zeros(9)
    for i in range(1, 50):
        a = s[:, i] - s[:, i - 1] + lw
        lw = -np.logaddexp(0, -a)
        o += (v[:, i] - o) * np.exp(lw)[:, None]
    assert np.max(np.abs(o - softmax_attention(q, k, v))) < 1e-12


def test_nan_in_v_poisons_only_its_lane_and_nan_in_q_the_row():
    """IEEE behaviour (documented): a NaN value reaches only its lane; a NaN query makes
    every score NaN, so the whole row is NaN, in both engines."""
    q, k, v = _problem("bf16", 4, 6, 2)
    v, q = v.copy(), q.copy()
    v[0, 3, 1] = as_format("bf16").qnan
    q[1, 2] = as_format("bf16").qnan
    for design in ("fa2", "flashd"):
        out = model.to_float("bf16", run_model(engine_params(design, d=4, fmt="bf16"), q, k, v).out)
        assert np.isnan(out[0, 1]) and np.isfinite(out[0, [0, 2, 3]]).all(), design
        assert np.isnan(out[1]).all(), design


def test_model_rejects_mismatched_shapes():
    q, k, v = _problem("bf16", 4, 3, 2)
    p = engine_params("fa2", d=4, fmt="bf16")
    with pytest.raises(ValueError, match="need q"):
        run_model(p, q, k, v[:, :2])
    with pytest.raises(ValueError, match="engine has d=4"):
        run_model(engine_params("fa2", d=4, fmt="bf16"), q[:, :3], k[..., :3], v[..., :3])


# --- accuracy on random problems --------------------------------------------------------

# (fmt, design, options) -> largest RMS relative error (measured, see the README table)
RANDOM_RMS = {
    ("bf16", "fa2", ()): 0.0144,
    ("bf16", "flashd", ()): 0.065,
    ("bf16", "fa2", (("scalar_fmt", "fp32"),)): 0.0090,
    ("bf16", "flashd", (("scalar_fmt", "fp32"),)): 0.0109,
    ("fp16", "fa2", ()): 0.0035,
    ("fp16", "flashd", ()): 0.0085,
    ("fp16", "flashd", (("scalar_fmt", "fp32"),)): 0.0064,
    ("fp32", "fa2", ()): 0.0038,
    ("fp32", "flashd", ()): 0.0062,
    ("fp8_e4m3", "fa2", ()): 0.26,
    ("fp8_e4m3", "flashd", (("scalar_fmt", "fp32"),)): 0.16,
    ("fp8_e4m3", "flashd", (("scalar_fmt", "fp32"), ("acc_fmt", "fp32"))): 0.034,
}


@pytest.mark.parametrize("fmt", ["bf16", "fp16", "fp32", "fp8_e4m3"])
def test_random_problem_accuracy(fmt):
    """32 rows, N = 64, d = 16 (seed 7): each configuration's RMS relative error is within its
    bound and no better than rounding the exact result once (the floor)."""
    q, k, v = random_problem(fmt, 16, 64, 32, np.random.default_rng(7))
    ref = softmax_attention(*(model.to_float(fmt, x) for x in (q, k, v)))
    floor = error_stats(model.to_float(fmt, model.from_float(fmt, ref)), ref)["rms_rel"]
    for (f, design, opts), bound in RANDOM_RMS.items():
        if f != fmt:
            continue
        e = error_stats(model.to_float(fmt, run_model(engine_params(design, d=16, fmt=fmt, **dict(opts)), q, k, v).out), ref)
        assert e["nonfinite"] == 0
        assert 0.9 * floor <= e["rms_rel"] <= bound, (design, opts, e, floor)
