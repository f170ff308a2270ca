"""Regression of every FP operator against the golden model, on Icarus and Verilator.

This file is both the cocotb test module (``operators_match_model`` runs inside the
simulator) and the pytest module that builds and runs it (``test_*`` below), as in
cocotb's own examples. One harness per format and stage setting holds all its operators.
"""

import os

import cocotb
import pytest

from flashd.hdl.format import PRESETS, as_format
from flashd.verif.bench import drive_and_check, regress
from flashd.verif.harness import UNITS, make_unit
from flashd.verif.sim import SIMULATORS


@cocotb.test()
async def operators_match_model(dut):
    await drive_and_check(dut)


def check_report(report, specs):
    """Every unit of the harness ran and matched (regress already failed on any mismatch)."""
    for spec in specs:
        assert f"{spec['name']}: " in report and "FAIL" not in report, (spec["name"], report)


def unit_specs(fmt, stages):
    """Every unit of ``fmt`` with ``stages`` register ranks; on 16-bit formats each unit gets
    ``stages`` more ranks than it has cut points, so ranks stack (more than one per cut)."""
    specs = [
        {"name": "add", "op": "add", "fmt": fmt},
        {"name": "mul", "op": "mul", "fmt": fmt},
        {"name": "fma", "op": "fma", "fmt_in": fmt},
        {"name": "cmp", "op": "compare", "fmt": fmt},
        {"name": "dot4", "op": "dot", "fmt_in": fmt, "n": 4},
        {"name": "dot3", "op": "dot", "fmt_in": fmt, "n": 3, "guard_bits": 0},
        {"name": "dot1", "op": "dot", "fmt_in": fmt, "n": 1},
    ]
    specs += [{"name": f"cvt_{o}", "op": "convert", "fmt_in": fmt, "fmt_out": o}
              for o in PRESETS if o != fmt]
    f = as_format(fmt)
    segments = max(2, min(1 << f.man_bits, {8: 4, 16: 8, 32: 32}.get(f.width, 8)))
    for name, op, cuts in (("recip", "reciprocal", 2), ("ln", "ln", 3), ("sigmoid", "sigmoid", 1), ("lsig", "logsigmoid", 1), ("exp", "exp", 4)):
        spec = {"name": name, "op": op, "fmt": fmt, "segments": segments, "stages": stages}
        try:
            make_unit(spec)                 # skip formats too narrow for the unit (e.g. ln in e5m2)
        except ValueError:
            continue
        specs.append(spec)
    if as_format(fmt).width <= 8:
        specs.append({"name": "dotx", "op": "dot", "fmt_in": fmt, "n": 4, "exact": True})
    if fmt in ("bf16", "fp16"):
        specs.append({"name": "fma32", "op": "fma", "fmt_in": fmt, "fmt_out": "fp32"})
        specs.append({"name": "dot32", "op": "dot", "fmt_in": fmt, "fmt_out": "fp32", "n": 4})
    for spec in specs:
        cuts = getattr(UNITS[spec["op"]], "CUTS", 4)       # nonlinear units: up to 4 inner operators
        spec["stages"] = stages + cuts if stages and fmt.endswith("16") else stages
    return specs


FULL = os.environ.get("FLASHD_FULL") == "1"
QUICK_COUNT = int(os.environ.get("FLASHD_COUNT", 3000))


def _operator_cases():
    """Every preset at stages 0 and 2 on Icarus; Verilator (a 25-35 s build each) at stages 2
    in make test, both stage settings in the full run."""
    for sim in SIMULATORS:
        for fmt in PRESETS:
            for stages in (0, 2):
                if sim == "icarus" or FULL or stages == 2:
                    yield pytest.param(sim, fmt, stages, id=f"{sim}-{fmt}-{stages}")


FULL = os.environ.get("FLASHD_FULL") == "1"


@pytest.mark.sim
@pytest.mark.parametrize("sim,fmt,stages", list(_operator_cases()))
def test_operators(sim, fmt, stages):
    """fp8: exhaustive operand pairs on Icarus; other formats: corner cases + random.
    The full run adds every input of the 16-bit formats for the one-input units."""
    exhaustive = FULL or (PRESETS[fmt].width == 8 and sim == "icarus")
    count = 1_000_000 if FULL else QUICK_COUNT
    specs = unit_specs(fmt, stages)
    check_report(regress(specs, sim, f"ops_{fmt}_s{stages}", count=count, exhaustive=exhaustive), specs)


@pytest.mark.sim
@pytest.mark.parametrize("fmt", ["e2m1", "e3m2", "e6m4"])
@pytest.mark.parametrize("sim", SIMULATORS)
def test_other_widths(sim, fmt):
    """Formats beyond the presets, from the narrowest allowed (2-bit exponent, 1-bit
    fraction); formats of <= 8 bits get every operand pair."""
    count = 1_000_000 if FULL else QUICK_COUNT
    specs = unit_specs(fmt, 1)
    check_report(regress(specs, sim, f"ops_{fmt}_s1", count=count, exhaustive=as_format(fmt).width <= 8), specs)


@pytest.mark.sim
@pytest.mark.parametrize("sim", SIMULATORS)
def test_fp64_like(sim):
    """The widest allowed format (11-bit exponent, 52-bit fraction): 106-bit products."""
    f = "e11m52"
    specs = [{"name": "add", "op": "add", "fmt": f, "stages": 2},
             {"name": "mul", "op": "mul", "fmt": f, "stages": 1},
             {"name": "fma", "op": "fma", "fmt_in": f, "stages": 3},
             {"name": "cmp", "op": "compare", "fmt": f},
             {"name": "narrow", "op": "convert", "fmt_in": f, "fmt_out": "fp32"},
             {"name": "widen", "op": "convert", "fmt_in": "fp32", "fmt_out": f}]
    check_report(regress(specs, sim, "ops_e11m52", count=1_000_000 if FULL else QUICK_COUNT), specs)
