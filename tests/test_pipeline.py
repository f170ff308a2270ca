# amaranth: UnusedElaboratable=no
"""Latency and register placement, in Amaranth's own simulator (no cocotb needed), and
proof that the regression checker flags wrong values and wrong latencies."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from flashd.hdl.emit import describe_fields
from flashd.hdl.ops import FPAdd, FPDot, FPMul
from flashd.hdl.pipeline import Pipeline
from flashd.verif import model
from flashd.verif.bench import check_unit, pack
from flashd.verif.registry import OpSpec


@pytest.mark.parametrize("stages,cuts", [(0, 3), (1, 3), (2, 3), (3, 3), (7, 3), (4, 5), (1, 1)])
def test_ranks_spread_and_sum_to_stages(stages, cuts):
    p = Pipeline(None, stages, cuts, None)
    ranks = [p.ranks_at(i) for i in range(cuts)]
    assert sum(ranks) == stages
    assert max(ranks) - min(ranks) <= 1


def _stream(dut, words, n_cycles):
    """Drive one word per cycle; return (cycle, payload) of every valid output."""
    seen = []

    async def bench(ctx):
        for cyc in range(n_cycles):
            if cyc < len(words):
                ctx.set(dut.i.payload.as_value(), words[cyc])
                ctx.set(dut.i.valid, 1)
            else:
                ctx.set(dut.i.valid, 0)
            if ctx.get(dut.o.valid):
                seen.append((cyc, ctx.get(dut.o.payload.as_value())))
            if dut.latency:
                await ctx.tick()
            else:                       # purely combinational: no clock domain
                await ctx.delay(1e-8)

    sim = Simulator(dut)
    if dut.latency:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


@pytest.mark.parametrize("stages", [0, 1, 2, 4])
def test_mul_latency_is_what_it_reports(stages):
    dut = FPMul("bf16", stages=stages)
    assert dut.latency == stages
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 1 << 16, 20), rng.integers(0, 1 << 16, 20)
    words = [int(x) | (int(y) << 16) for x, y in zip(a, b, strict=True)]
    seen = _stream(dut, words, 30)
    assert [c for c, _ in seen] == [k + stages for k in range(20)]
    assert [v for _, v in seen] == [int(v) for v in model.mul("bf16", a, b)]


@pytest.mark.parametrize("n, stages", [(3, 6), (11, 13)])
def test_dot_pipelined_matches_model(n, stages):
    """Beyond its 5 main cuts the dot product puts ranks between its trees' levels (11 terms,
    13 stages: 5 main, 3 in the sum's tree, 3 in the maximum's, 2 stacked)."""
    dut = FPDot("fp8_e4m3", "fp16", n=n, stages=stages)
    assert sum(dut._ranks()) == stages and (n < 11 or all(dut._ranks()))
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 256, (15, n)), rng.integers(0, 256, (15, n))
    fields = describe_fields(dut.i.payload.shape())
    words = pack(fields, {"a": a, "b": b}).tolist()
    seen = _stream(dut, words, 25 + stages)
    assert [c for c, _ in seen] == [k + stages for k in range(15)]
    assert [v for _, v in seen] == [int(v) for v in model.dot("fp8_e4m3", "fp16", a, b)]


def _add_unit():
    """What a harness tells the checker of one bf16 adder (built here, never elaborated: the pragma)."""
    unit, spec = FPAdd("bf16", stages=2), OpSpec(op="add", fmt="bf16", stages=2)
    return {"name": "add", **spec.as_dict(), "latency": spec.latency,
            "inputs": describe_fields(unit.i.payload.shape()), "outputs": describe_fields(unit.o.payload.shape())}


def test_checker_flags_a_wrong_result():
    unit = _add_unit()
    ins = {"a": np.array([0x3F80, 0x4000], np.uint64), "b": np.array([0x3F80, 0x3F80], np.uint64),
           "sub": np.array([0, 0], np.uint64)}
    exp = {"out": model.add("bf16", ins["a"], ins["b"], ins["sub"])}
    good = [int(v) for v in exp["out"]]
    assert check_unit(unit, ins, exp, [2, 3], good, [0, 1]) == []
    fails = check_unit(unit, ins, exp, [2, 3], [good[0], good[1] ^ 1], [0, 1])
    assert any("rtl 0x4041" in f and "model 0x4040" in f for f in fails), fails


def test_checker_flags_a_wrong_latency_and_a_lost_output():
    unit = _add_unit()
    ins = {"a": np.array([0x3F80], np.uint64), "b": np.array([0x3F80], np.uint64), "sub": np.array([0], np.uint64)}
    exp = {"out": model.add("bf16", ins["a"], ins["b"], ins["sub"])}
    assert any("latency says 2" in f for f in check_unit(unit, ins, exp, [3], [int(exp["out"][0])], [0]))
    assert any("1 inputs but 0 outputs" in f for f in check_unit(unit, ins, exp, [], [], [0]))
