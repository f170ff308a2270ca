"""Regression of every FP operator against the golden model, on Icarus and Verilator.

This file is both the cocotb test module (``operators_match_model`` runs inside the
simulator) and the pytest module that builds and runs it (``test_*`` below), as in
cocotb's own examples. One harness per format and stage setting holds all its operators.
"""

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
import pytest

from flashd.hdl.fixunits import FIX_UNITS
from flashd.hdl.format import PRESETS, as_format
from flashd.verif.bench import check_unit, pack, regress
from flashd.verif.registry import OpSpec
from flashd.verif.sim import SIMULATORS
from flashd.verif.stream import InPort, Monitor, OutPort, StreamDriver, run, start


async def drive_and_check(dut):
    """cocotb body: stream every unit's vectors (random valid gaps) and check them.

    Reads ``FLASHD_DESC`` (the harness JSON), ``FLASHD_SEED``, ``FLASHD_COUNT``,
    ``FLASHD_EXHAUSTIVE`` and ``FLASHD_GAP`` from the environment that :func:`~flashd.verif.bench.regress` sets.
    """
    units = json.loads(Path(os.environ["FLASHD_DESC"]).read_text())
    seed = int(os.environ["FLASHD_SEED"])
    count = int(os.environ["FLASHD_COUNT"])
    exhaustive = os.environ.get("FLASHD_EXHAUSTIVE", "0")       # "1", "0" or the units' names
    gap = float(os.environ.get("FLASHD_GAP", "0.1"))
    rng = np.random.default_rng(seed)
    cocotb.log.info("seed %d (set FLASHD_SEED=%d to reproduce), %d units", seed, seed, len(units))
    ins, exp, items, offers = [], [], [], []
    for u in units:
        spec = OpSpec.from_dict(u)
        ins.append(spec.inputs(count, rng, exhaustive == "1" or u["name"] in exhaustive.split(",")))
        exp.append(spec.expected(ins[-1]))
        items.append(pack(u["inputs"], ins[-1]).tolist())
        offers.append(rng.random(len(items[-1]) + int(len(items[-1]) * gap * 3) + 16) >= gap)
        cocotb.log.info("%s: %d vectors, latency %d", u["name"], len(items[-1]), u["latency"])
    inputs = [InPort(u["name"], getattr(dut, f"{u['name']}__i__valid"), getattr(dut, f"{u['name']}__i__payload"))
              for u in units]
    outputs = [OutPort(u["name"], getattr(dut, f"{u['name']}__o__valid"), getattr(dut, f"{u['name']}__o__payload"))
               for u in units]
    await start(dut, inputs)
    driver, monitor = StreamDriver(inputs, items, offers), Monitor(outputs, [len(x) for x in items])
    t0 = time.time()
    cycles = await run(dut.clk, driver, monitor, tail=max(u["latency"] for u in units) + 2)
    cocotb.log.info("%d cycles in %.1f s", cycles, time.time() - t0)

    fails, summary = [], []
    for k, u in enumerate(units):
        seen = monitor.seen[k]
        f = check_unit(u, ins[k], exp[k], [c for c, _ in seen], [v for _, v in seen], driver.accepted[k])
        fails += f
        summary.append(f"{u['name']}: {len(items[k])} vectors, {'FAIL' if f else 'ok'}")
    report = "\n".join(summary + fails)
    Path(os.environ.get("FLASHD_REPORT", "report.txt")).write_text(report + "\n")
    cocotb.log.info("\n%s", report)
    assert not fails, f"{len(fails)} problems (seed {seed}):\n" + "\n".join(fails[:40])


@cocotb.test()
async def operators_match_model(dut):
    await drive_and_check(dut)


def check_report(report, specs):
    """Every unit of the harness ran and matched (regress already failed on any mismatch)."""
    for name in specs:
        assert f"{name}: " in report and "FAIL" not in report, (name, report)


def unit_specs(fmt, stages):
    """``{name: OpSpec}``: every unit of ``fmt`` with ``stages`` register ranks; on 16-bit
    formats each unit gets ``stages`` more ranks than it has cut points, so ranks stack
    (more than one per cut). Units the format is too narrow for (ln, exp in e5m2) are left out."""
    f = as_format(fmt)
    segments = max(2, min(1 << f.man_bits, {8: 4, 16: 8, 32: 32}.get(f.width, 8)))
    wanted = {"add": dict(op="add"), "mul": dict(op="mul"), "fma": dict(op="fma"), "cmp": dict(op="compare"),
              "dot4": dict(op="dot", n=4), "dot3": dict(op="dot", n=3, guard_bits=0), "dot1": dict(op="dot", n=1),
              **{f"cvt_{o}": dict(op="convert", fmt_out=o) for o in PRESETS if PRESETS[o] != f},
              **{name: dict(op=op, segments=segments)
                 for name, op in (("recip", "reciprocal"), ("ln", "ln"), ("sigmoid", "sigmoid"), ("lsig", "logsigmoid"),
                                  ("exp", "exp"))},
              **{f"{name}_fix": dict(op=op, method="fix")
                 for name, op in (("recip", "reciprocal"), ("ln", "ln"), ("sigmoid", "sigmoid"), ("lsig", "logsigmoid"),
                                  ("exp", "exp"))}}
    if f.width <= 8:
        wanted["dotx"] = dict(op="dot", n=4, exact=True)
    if fmt in ("bf16", "fp16"):
        wanted.update(fma32=dict(op="fma", fmt_out="fp32"), dot32=dict(op="dot", fmt_out="fp32", n=4))
    specs = {}
    for name, kw in wanted.items():
        try:
            cuts = OpSpec(fmt=fmt, **kw).component.CUTS
            specs[name] = OpSpec(fmt=fmt, stages=stages + cuts if stages and fmt.endswith("16") else stages, **kw)
        except ValueError:
            continue
    return specs


QUICK_COUNT = 3000            # vectors per unit in make test (fp8 on Icarus: every pair)
FULL_COUNT = 1_000_000        # make test-full (the `full` marker), every preset format on Verilator
WIDE_FULL_COUNT = 200_000     # make test-full, the formats beyond the presets (e6m4, e11m52) on Verilator


OTHER_WIDTHS = ("e2m1", "e3m2", "e6m4")
EVERY_INPUT_FIX = {"bf16": 3, "fp16": 6}      # the faithful units of these run on every input, at these stages       # formats beyond the presets, from the narrowest allowed


def fp64_like_specs():
    """The widest allowed format (11-bit exponent, 52-bit fraction): 106-bit products."""
    f = "e11m52"
    return {"add": OpSpec(op="add", fmt=f, stages=2), "mul": OpSpec(op="mul", fmt=f, stages=1),
            "fma": OpSpec(op="fma", fmt=f, stages=3), "cmp": OpSpec(op="compare", fmt=f),
            "narrow": OpSpec(op="convert", fmt=f, fmt_out="fp32"), "widen": OpSpec(op="convert", fmt="fp32", fmt_out=f)}


@pytest.mark.sim
def test_every_operator_on_verilator_in_one_build():
    """make test's Verilator cases in one harness (one build instead of nine: a build costs
    7-15 s, the vectors are the same): every preset's units at stages 2, the formats beyond the
    presets at stages 1 (every operand pair for those of <= 8 bits) and the e11m52 units; the
    faithful units of bf16 and fp16 run on every input in their own harness
    (test_the_faithful_units_on_every_16_bit_input), fp32's on Icarus (test_operators; their
    Verilog is the largest to compile)."""
    groups = [(fmt, unit_specs(fmt, 2)) for fmt in PRESETS] + [(fmt, unit_specs(fmt, 1)) for fmt in OTHER_WIDTHS]
    specs = {f"{fmt}_{name}": spec for fmt, units in groups + [("e11m52", fp64_like_specs())] for name, spec in units.items()
             if not (spec.method == "fix" and (fmt in EVERY_INPUT_FIX or fmt == "fp32"))}
    every = {f"{fmt}_{name}" for fmt, units in groups if fmt in OTHER_WIDTHS and as_format(fmt).width <= 8 for name in units}
    check_report(regress(specs, "verilator", "ops_verilator_quick", count=QUICK_COUNT, exhaustive=every), specs)


def _operator_cases(full):
    """make test: every preset at stages 0 on Icarus, the fp8 presets at stages 2 too (every
    operand pair at both); Verilator runs every preset at stages 2 in one build
    (test_every_operator_on_verilator_in_one_build): each format and stage setting is simulated,
    each simulator sees every format, and no Verilog runs the same vectors twice.
    make test-full: both stage settings on Verilator with 1e6 vectors per unit (fp8: every pair),
    and the Icarus cases make test leaves out (16/32-bit presets at stages 2) at make test's
    counts: Icarus runs these harnesses at 600-1,100 cycles/s, Verilator at 5,600."""
    for sim in SIMULATORS:
        for fmt in PRESETS:
            for stages in (0, 2):
                icarus_quick = stages == 0 or PRESETS[fmt].width == 8
                if (sim == "verilator" or not icarus_quick) if full else (sim == "icarus" and icarus_quick):
                    yield pytest.param(sim, fmt, stages, id=f"{sim}-{fmt}-{stages}")


def _operators(sim, fmt, stages, full):
    """fp8: exhaustive operand pairs on Icarus; other formats: corner cases + random.
    The full run adds every input of the 16-bit formats for the one-input units."""
    exhaustive = full or (PRESETS[fmt].width == 8 and sim == "icarus")
    specs = unit_specs(fmt, stages)
    # the full run builds in its own directory: an xdist worker may run the quick case at the same time
    check_report(regress(specs, sim, f"ops_{fmt}_s{stages}" + "_full" * full, count=FULL_COUNT if full else QUICK_COUNT,
                         exhaustive=exhaustive), specs)


@pytest.mark.sim
@pytest.mark.parametrize("sim,fmt,stages", list(_operator_cases(full=False)))
def test_operators(sim, fmt, stages):
    _operators(sim, fmt, stages, full=False)


@pytest.mark.full
@pytest.mark.sim
@pytest.mark.parametrize("sim,fmt,stages", list(_operator_cases(full=True)))
def test_operators_full(sim, fmt, stages):
    _operators(sim, fmt, stages, full=sim == "verilator")


def _other_widths(sim, fmt, count):
    specs = unit_specs(fmt, 1)
    check_report(regress(specs, sim, f"ops_{fmt}_s1_{count}", count=count, exhaustive=as_format(fmt).width <= 8), specs)


@pytest.mark.sim
@pytest.mark.parametrize("fmt", OTHER_WIDTHS)
def test_other_widths(fmt):
    """Formats beyond the presets, from the narrowest allowed (2-bit exponent, 1-bit
    fraction); formats of <= 8 bits get every operand pair."""
    _other_widths("icarus", fmt, QUICK_COUNT)


@pytest.mark.full
@pytest.mark.sim
def test_other_widths_full():
    _other_widths("verilator", "e6m4", WIDE_FULL_COUNT)


def _fp64_like(sim, count):
    specs = fp64_like_specs()
    check_report(regress(specs, sim, f"ops_e11m52_{count}", count=count), specs)


@pytest.mark.sim
def test_fp64_like():
    _fp64_like("icarus", QUICK_COUNT)


@pytest.mark.full
@pytest.mark.sim
def test_fp64_like_full():
    _fp64_like("verilator", WIDE_FULL_COUNT)


@pytest.mark.sim
def test_the_faithful_units_on_every_16_bit_input():
    """Every bf16 and fp16 input through each fixed-point unit's Verilog on Verilator (about
    10 s for the 655,360 vectors): bf16 with fewer ranks than cut points, fp16 with more."""
    specs = {f"{fmt}_{op}": OpSpec(op=op, fmt=fmt, method="fix", stages=stages)
             for fmt, stages in EVERY_INPUT_FIX.items() for op in FIX_UNITS}
    check_report(regress(specs, "verilator", "ops_fix_every_input", count=0, exhaustive=True), specs)
