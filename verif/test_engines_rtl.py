"""Engine regressions (FA2 and FLASH-D) against the bit-exact model, on Icarus and Verilator.

Both the cocotb test module (``engine_matches_model`` runs inside the simulator) and the
pytest driver. Each case: several groups of P rows streamed back to back with random valid
gaps; N = 1 (edge case) up to 256 pairs per row.
"""

import json
import os
from dataclasses import asdict
from pathlib import Path

import cocotb
import numpy as np
import pytest

from flashd.verif import model
from flashd.verif.accuracy import SHARED_DATA, load_qkv
from flashd.verif.attention_bench import check_rows, regress_engine, regress_engines, schedule
from flashd.verif.designs import engine_params
from flashd.verif.stream import InPort, Monitor, OutPort, StreamDriver, run, start


async def drive_engine(dut):
    """cocotb body: reads ``FLASHD_STIM`` (JSON from :func:`~flashd.verif.attention_bench.make_stimulus`, or ``{"engines":
    {name: stimulus}}`` for engines side by side, :func:`regress_engines`), ``FLASHD_SEED`` and
    ``FLASHD_GAP``; streams the pairs (honouring ``ready``) and checks every output row."""
    data = json.loads(Path(os.environ["FLASHD_STIM"]).read_text())
    stims = data["engines"] if "engines" in data else {"": data}      # "": the top is the engine
    out_gap = float(os.environ.get("FLASHD_OUT_GAP", "0"))
    offers, takes, limit, tail = schedule(stims.values(), int(os.environ["FLASHD_SEED"]),
                                          float(os.environ.get("FLASHD_GAP", "0.2")), out_gap)
    payloads = {n: [int(x) for x in st["payloads"]] for n, st in stims.items()}
    pre = {n: f"{n}__" if n else "" for n in stims}
    inputs = [InPort(n or "i", *(getattr(dut, f"{pre[n]}i__{s}") for s in ("valid", "payload", "ready"))) for n in stims]
    outputs = [OutPort(n or "o", getattr(dut, f"{pre[n]}o__valid"), getattr(dut, f"{pre[n]}o__payload"),
                       getattr(dut, f"{pre[n]}o__ready") if st.get("out_lanes") else None) for n, st in stims.items()]
    for port in outputs:
        if port.ready is not None:
            port.ready.value = 0
    await start(dut, inputs)
    driver = StreamDriver(inputs, list(payloads.values()), offers, limit=limit)
    beats = [st["d"] // st["out_lanes"] if st.get("out_lanes") else 1 for st in stims.values()]
    monitor = Monitor(outputs, expected=[len(st["expected"]) * b for st, b in zip(stims.values(), beats, strict=True)],
                      takes=takes)
    # every row out, and nothing more
    cycles = await run(dut.clk, driver, monitor, tail=tail)
    results = [check_rows(st, monitor.seen[k], driver.accepted[k], cycles, driver.stalls[k], name=n,
                          backpressure=out_gap > 0) for k, (n, st) in enumerate(stims.items())]
    Path(os.environ["FLASHD_RESULTS"]).write_text(json.dumps([asdict(r) for r in results]))
    Path(os.environ.get("FLASHD_REPORT", "report.txt")).write_text("\n".join(r.report() for r in results) + "\n")
    cocotb.log.info("\n".join(map(str, results)))
    assert all(r.ok for r in results), "\n".join(r.report() for r in results)


@cocotb.test()
async def engine_matches_model(dut):
    await drive_engine(dut)


# (name, design, parameters, N per group); quick cases run in `make test` on both simulators. FLASH-D's
# weight loop is in fixed point by default up to fp16 (bf16, fp16, fp8 formats) and in floating point for
# fp32, the published rule, and where asked (loop_frac=None)
CASES = [
    ("fa2_bf16_d4", "fa2", dict(d=4, fmt="bf16"), [1, 7, 40, 3]),
    ("flashd_bf16_d4", "flashd", dict(d=4, fmt="bf16"), [1, 7, 40, 3]),
    ("fa2_fp16_d3_p2_s1", "fa2", dict(d=3, fmt="fp16", interleave=2, stages=1), [5, 1, 30]),
    ("flashd_fp16_d3_p3_s2_float", "flashd", dict(d=3, fmt="fp16", interleave=3, stages=2, loop_frac=None), [5, 1, 30]),
    ("fa2_fp8_d5_p2", "fa2", dict(d=5, fmt="fp8_e4m3", interleave=2), [9, 1, 25]),
    ("flashd_fp8_d5_pub", "flashd", dict(d=5, fmt="fp8_e4m3", saturation="published", update="blend"), [9, 1, 25]),
    ("fa2_fp32_d2_s1", "fa2", dict(d=2, fmt="fp32", stages=1), [4, 1, 20]),
    ("flashd_fp32_d2_p2_blend", "flashd", dict(d=2, fmt="fp32", interleave=2, update="blend", stages=1), [4, 1, 20]),
    ("fa2_bf16_acc32_d4_p2", "fa2", dict(d=4, fmt="bf16", acc_fmt="fp32", scalar_fmt="fp32", interleave=2, stages=1), [256, 2]),
    ("flashd_bf16_acc32_d4_p2", "flashd", dict(d=4, fmt="bf16", acc_fmt="fp32", scalar_fmt="fp32", interleave=2, stages=1), [256, 2]),
    ("flashd_bf16_pub_p4_s1", "flashd", dict(d=4, fmt="bf16", saturation="published", interleave=4, stages=1), [12, 1, 20]),
    # the output streamed in beats of out_lanes values (rows of 1 and 3 pairs are shorter than
    # the time a row takes to land and leave: the input stalls)
    ("fa2_bf16_d4_k2_s1", "fa2", dict(d=4, fmt="bf16", out_lanes=2, stages=1), [1, 7, 40, 3]),
    ("flashd_fp16_d6_k1_p3_s1", "flashd", dict(d=6, fmt="fp16", out_lanes=1, interleave=3, stages=1), [5, 1, 30]),
    # the weight loop in fixed point, saturating at +-4 (scores beyond it, states down to it)
    ("flashd_bf16_lf8i2_p2_s1", "flashd", dict(d=4, fmt="bf16", scalar_fmt="fp32", loop_frac=8, loop_int=2,
                                               interleave=2, stages=1), [12, 1, 40]),
]


# make test runs these on Verilator, side by side in one build (every format, P > 1, N = 256,
# both saturation modes and update forms); the full run takes every case, 4x rows, one build each.
VERILATOR_QUICK = ("fa2_fp16_d3_p2_s1", "flashd_fp8_d5_pub", "flashd_fp32_d2_p2_blend", "flashd_bf16_acc32_d4_p2",
                   "fa2_bf16_d4_k2_s1", "flashd_bf16_lf8i2_p2_s1")
FULL_REPEAT = 4


def _cases(full):
    for sim in ("icarus", "verilator") if full else ("icarus",):
        for case in CASES:
            yield pytest.param(sim, *case, id=f"{sim}-{case[0]}")


def _engine(sim, name, design, params, groups, repeat):
    result = regress_engine(design, sim, f"engine_{name}_x{repeat}", groups * repeat, **params)
    assert result.ok and result.rows == len(groups) * repeat * params.get("interleave", 1), result.report()
    assert result.pairs == sum(groups) * repeat * params.get("interleave", 1), result


@pytest.mark.sim
def test_engines_on_verilator_in_one_build():
    cases = {name: (design, groups, params) for name, design, params, groups in CASES if name in VERILATOR_QUICK}
    results = regress_engines("verilator", "engines_verilator_quick", cases)
    assert [r.name for r in results] == list(cases)
    for r, (_, groups, params) in zip(results, cases.values(), strict=True):
        assert r.ok and r.rows == len(groups) * params.get("interleave", 1), r.report()


@pytest.mark.sim
@pytest.mark.parametrize("sim,name,design,params,groups", list(_cases(full=False)))
def test_engine(sim, name, design, params, groups):
    _engine(sim, name, design, params, groups, 1)


@pytest.mark.full
@pytest.mark.sim
@pytest.mark.parametrize("sim,name,design,params,groups", list(_cases(full=True)))
def test_engine_full(sim, name, design, params, groups):
    _engine(sim, name, design, params, groups, FULL_REPEAT)


@pytest.mark.sim
@pytest.mark.parametrize("design, buffers, out_gap", [("fa2", 2, 0.4), ("flashd", None, 0.4), ("fa2", 2, 0.0)])
def test_streamed_output(design, buffers, out_gap):
    """out_lanes k: bit-exact rows in d/k beats, each row's first beat at the stated latency
    or d/k cycles after the row before it (with o.ready always high: also every engine case,
    streamed by default), or later (o.ready low in 40% of cycles); rows of one pair (shorter
    than a row takes to land and leave) and the back-pressure stall the input, which the
    bench sees as refused offers."""
    r = regress_engine(design, "icarus", f"engine_stream_{design}_{out_gap}", [1] * 5 + [12, 2], gap=0.0,
                       out_gap=out_gap, d=8, fmt="bf16", out_lanes=2, out_buffers=buffers, stages=1)
    assert r.ok and r.rows == 7 and r.pairs == 19 and r.stalls > 0, r.report()


@pytest.mark.sim
def test_the_default_stream_keeps_up_with_rows_of_min_row_pairs():
    """out_lanes and out_buffers by default: the fewest that take rows of ``min_row`` pairs
    without stalling the input. FA2 at d = 8 and rows of 15 pairs gets 2 lanes and a buffer;
    rows of 15 pairs back to back pass with no stall, and on one lane they stall."""
    kw = dict(d=8, fmt="bf16", stages=1)
    p = engine_params("fa2", min_row=15, **kw)
    assert (p.out_lanes, p.out_buffers) == (2, 1)
    auto, one_lane = regress_engines("icarus", "engine_stream_default", {      # side by side: one build
        "auto": ("fa2", [15] * 5, dict(min_row=15, **kw)), "one_lane": ("fa2", [15] * 5, dict(out_lanes=1, out_buffers=1, **kw))},
        gap=0.0)
    assert auto.ok and auto.stalls == 0, auto.report()
    assert one_lane.ok and one_lane.stalls > 0, one_lane.report()


def _real_data(design, n_groups):
    """Rows of a real MiniLM head (d = 32, N = 76) through the RTL on Icarus, bit-exact."""
    if not SHARED_DATA.is_file():
        pytest.skip(f"real attention data not found at {SHARED_DATA} (../shared is not part of a clone)")
    Q, K, V = load_qkv(SHARED_DATA, "t1_l3")
    params = dict(d=32, fmt="bf16", scalar_fmt="fp32", interleave=2, stages=1)
    groups = []
    for g in range(n_groups):
        q = model.from_float("bf16", Q[5, 2 * g:2 * g + 2])
        k, v = (np.broadcast_to(model.from_float("bf16", X[5]), (2,) + X[5].shape) for X in (K, V))
        groups.append((q, k, v))
    result = regress_engine(design, "icarus", f"engine_real_{design}_{n_groups}", groups, **params)
    assert result.ok and result.rows == 2 * len(groups) and result.pairs == 2 * K.shape[1] * len(groups), result.report()


@pytest.mark.sim
def test_engine_on_real_data():
    """2 FLASH-D rows in make test (~40 s; `make demo` also runs one FA2 and one FLASH-D
    row of real data through Icarus)."""
    _real_data("flashd", 1)


@pytest.mark.full
@pytest.mark.sim
@pytest.mark.parametrize("design", ["flashd", "fa2"])
def test_engine_on_real_data_full(design):
    """8 rows of each engine."""
    _real_data(design, 4)
