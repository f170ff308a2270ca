"""The Yosys flow: a module maps to the library and is cached, areas and flip-flops come
from the library's own cells, timing-driven mapping meets a clock it can meet, a design's
glue instantiates its units' netlist modules, bad input is refused."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from flashd.hdl.emit import verilog_text
from flashd.hdl.ops import DotAlign, DotProduct, FPAdd, FPDot, FPMul
from flashd.hdl.params import FlashDParams
from flashd.hdl.unit import Unit
from flashd.synth.flow import (
    BOX_PREFIX,
    PART_CLOCK_SHARE,
    PART_EFFORT,
    SynthError,
    flat_netlist,
    synth_design,
    synth_module,
    synth_unit,
    use_yosys,
)
from flashd.synth.gatesim import GateSim
from flashd.synth.netbench import run_engine
from flashd.synth.netlist import read_netlist
from flashd.synth.pdk import library
from flashd.synth.report import engine_report
from flashd.verif.attention_bench import make_stimulus
from flashd.verif.designs import engine_params

pytestmark = pytest.mark.yosys


def test_fp8_adder_maps_to_the_ge_library_and_is_cached():
    text = verilog_text(FPAdd("fp8_e4m3", stages=1), "add8")
    first = synth_module(text, "add8", mode="cells")
    again = synth_module(text, "add8", mode="cells")
    assert 150 < first.area < 1500 and first.cells > 50 and first.depth > 5
    # stages=1 over 3 cut points puts the one rank after rounding: 8 result bits + valid
    assert first.flops == 8 + 1 and first.by_type["DFF"] == 9
    ge = library().cells()
    assert first.flop_area == pytest.approx(9 * ge["DFF"].area)
    assert first.area == pytest.approx(sum(n * ge[t].area for t, n in first.by_type.items()))
    assert again.cached and again.area == first.area
    generic = synth_module(text, "add8", mode="generic")
    assert generic.cells > 50 and generic.area == 0.0 and generic.flops == 9


def test_a_multiplier_grows_with_the_significand():
    small = synth_module(verilog_text(FPMul("fp8_e4m3"), "m8"), "m8", mode="generic").cells
    big = synth_module(verilog_text(FPMul("bf16"), "m16"), "m16", mode="generic").cells
    assert big > 1.5 * small


def test_sky130_flip_flops_come_from_the_liberty_and_a_clock_needs_timing():
    """The sky130 names (dfxtp_1, ...) say nothing to a name rule: the ff groups do."""
    text = verilog_text(FPAdd("fp8_e4m3", stages=1), "add8")
    sky = synth_module(text, "add8", library=library("sky130"))
    assert sky.flops == 9 and sum(n for t, n in sky.by_type.items() if "df" in t) == 9
    with pytest.raises(ValueError, match="GE library has no timing"):
        synth_module(text, "add8", clock_ns=10)
    with pytest.raises(ValueError, match="clock_ns=-1"):
        synth_module(text, "add8", library=library("sky130"), clock_ns=-1)


def test_yosys_failure_names_the_kept_log():
    broken = "module broken(input a, output b);\n  assign b = ;\nendmodule\n"
    with pytest.raises(SynthError) as e:
        synth_module(broken, "broken")
    assert "yosys failed on broken" in str(e.value) and "yosys.log" in str(e.value)


def _modules(text):
    return [line.split()[1].split("(")[0] for line in text.splitlines() if line.startswith("module ")]


def test_the_glue_instantiates_one_netlist_module_per_distinct_unit():
    """FLASH-D fp8 d=3: the three lanes' o_fma are one module; the hierarchical netlist holds
    the glue, each distinct unit and the dot product's two parts once; every instance's ports
    are the unit's own."""
    r = synth_design(FlashDParams(d=3, fmt="fp8_e4m3"), "e3")
    text = open(r.netlist).read()
    modules = _modules(text)
    units = {u["instance"] for u in r.units} - {"(top level)"}
    assert modules[0] == "e3" and len(modules) == len(set(modules)) == 1 + 2 + len({
        (u["area"], u["cells"], u["depth"]) for u in r.units if u["instance"] != "(top level)"})
    assert {"o_fma0", "o_fma1", "o_fma2", "dot"} <= units
    lanes = {line.split()[0] for line in text.splitlines() if line.strip().startswith("u_") and "o_fma" in line}
    assert len(lanes) == 1


def test_a_dot_product_is_its_distinct_parts_synthesized_once():
    """An fp8 dot product of 5 terms: one product and one alignment module, each instantiated
    5 times by the unit's own module; the unit's area and cells are its own plus 5 of each
    part's (the parts synthesized alone for their share of the clock: the same cache entries); the netlist has each module
    once. The netlist's function is checked with every engine's (the engines' netlist tests)."""
    lib = library("sky130")
    unit = Unit(FPDot, ("fp8_e4m3",), (("n", 5), ("stages", 1)))
    r = synth_unit(unit, library=lib, clock_ns=20.0)
    parts = {part: synth_unit(part, library=lib, clock_ns=20.0 * PART_CLOCK_SHARE, effort=PART_EFFORT)
             for part in unit.parts}
    assert set(unit.parts.values()) == {5} and {p.cls for p in parts} == {DotProduct, DotAlign}
    assert all(p.cached for p in parts.values())
    text = open(r.netlist).read()
    modules = _modules(text)
    assert len(modules) == len(set(modules)) == 3
    own = modules[0]
    body = text[text.index(f"module {own}("):text.index("endmodule")]
    for p in parts.values():
        name = BOX_PREFIX + Path(p.netlist).stem
        assert name in modules and len(re.findall(rf"^\s*{name} ", body, re.M)) == 5
    own_area = r.area - 5 * sum(p.area for p in parts.values())
    assert 0 < own_area < r.area / 2 and r.cells - 5 * sum(p.cells for p in parts.values()) > 0
    assert r.flops == sum(n for cell, n in r.by_type.items() if "__df" in cell) > 0     # the output rank


@pytest.mark.xdist_group("sky130_fp8_d1_25ns")     # tests/test_sta.py: the same design
@pytest.mark.full                                   # two Yosys builds compared; make test's netlists are 0.70's
@pytest.mark.skipif(shutil.which("yosys") is None, reason="no yosys executable (Debian's 0.23) to compare with")
def test_pypi_yosys_netlists_time_in_opensta_and_simulate_bit_exact():
    """FLASH-D fp8 d = 1, S1 P3 at 25 ns (the design test_sta's search finds) synthesized with
    PyPI's Yosys 0.70 (pyosys, the default): OpenSTA reads its netlist in full and it meets the
    clock; its flat netlist, simulated by flashd's netlist simulator, matches the model bit for
    bit; its area is within 3% of Debian's Yosys 0.23's (``make setup`` installs it)."""
    lib, design = library("sky130"), dict(fmt="fp8_e4m3", d=1, stages=1, interleave=3)
    rep = engine_report("flashd", library=lib, clock_ns=25.0, **design)
    flat = flat_netlist(rep["netlist"], rep["top"], lib)
    use_yosys("system")
    try:
        ref = engine_report("flashd", library=lib, clock_ns=25.0, **design)
    finally:
        use_yosys("pyosys")
    assert rep["netlist"] != ref["netlist"] and rep["timing"]["met"], rep["timing"]
    assert abs(rep["area"] / ref["area"] - 1) < 0.03, (rep["area"], ref["area"])
    stim = make_stimulus(engine_params("flashd", **design), [5, 1, 12], np.random.default_rng(3))
    result, _ = run_engine(GateSim(read_netlist(flat), lib, seed=3), stim, seed=3)
    assert result.ok and result.rows == 9, result.report()
