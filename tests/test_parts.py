"""The step breakdown of add, mul and fma: the steps chain to the whole operator, and the
report lists every step beside the whole."""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from flashd.hdl.format import as_format
from flashd.scripts.cli import main
from flashd.synth.parts import STEPS, part_modules
from flashd.verif.registry import OpSpec


def _chain_matches_operator(op, fmt, count, seed):
    """The steps, wired one into the next, compute exactly what the operator computes."""
    m = Module()
    parts = part_modules(op, fmt)
    whole = m.submodules.whole = OpSpec(op=op, fmt=fmt).build()
    for k, (_, part) in enumerate(parts):
        m.submodules[f"p{k}"] = part
        if k:
            prev = parts[k - 1][1]
            for name in part.signature.members:
                if name.startswith("i_"):
                    m.d.comb += getattr(part, name).eq(getattr(prev, "o_" + name[2:]))
    first, last = parts[0][1], parts[-1][1]
    widths = STEPS[op][0](as_format(fmt))
    for name in widths:
        m.d.comb += getattr(whole.i.payload, name).eq(getattr(first, "i_" + name))
    rng = np.random.default_rng(seed)
    mismatches = []

    async def bench(ctx):
        for _ in range(count):
            vals = {n: int(rng.integers(0, 1 << w)) for n, w in widths.items()}
            for n, v in vals.items():
                ctx.set(getattr(first, "i_" + n), v)
            got, want = ctx.get(last.o_out), ctx.get(whole.o.payload.as_value())
            if got != want:
                mismatches.append((vals, got, want))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return mismatches


@pytest.mark.parametrize("op", ["add", "mul", "fma"])
def test_operator_steps_chain_to_the_whole_operator(op):
    assert _chain_matches_operator(op, "fp8_e4m3", 400, seed=5) == []


@pytest.mark.yosys
def test_step_breakdown_reports_every_step_and_the_whole(capsys):
    assert main(["ops-area", "--fmt", "fp8_e4m3", "--ops", "add", "--parts"]) == 0
    out = capsys.readouterr().out.split("Where the area goes")[1]
    steps = [r.split("|") for r in out.splitlines() if r.startswith("| add | fp8_e4m3 |")]
    labels = [r[3].strip() for r in steps]
    assert labels[:5] == [label for label, _ in STEPS["add"][1]]
    cells = [int(r[4].strip("* ")) for r in steps]
    step_sum, whole = cells[5], cells[6]
    assert all(c > 0 for c in cells[:5]) and sum(cells[:5]) == step_sum
    assert whole <= step_sum < 1.5 * whole        # what crossing step boundaries saves is small
