"""The Yosys flow: a module maps to the library and is cached, areas and flip-flops come
from the library's own cells, a design splits into units and glue, bad input is refused."""

import pytest

from flashd.hdl.emit import verilog_text
from flashd.hdl.ops import FPAdd, FPMul
from flashd.synth.flow import BUILD, UNIT, SynthError, split_design, synth_module
from flashd.synth.liberty import read_cells

pytestmark = pytest.mark.yosys


def test_fp8_adder_maps_to_the_ge_library_and_is_cached():
    text = verilog_text(FPAdd("fp8_e4m3", stages=1), "add8")
    first = synth_module(text, "add8", mode="cells")
    again = synth_module(text, "add8", mode="cells")
    assert 150 < first.area < 1500 and first.cells > 50 and first.depth > 5
    # stages=1 over 3 cut points puts the one rank after rounding: 8 result bits + valid
    assert first.flops == 8 + 1 and first.by_type["DFF"] == 9
    assert first.flop_area == pytest.approx(9 * read_cells(BUILD / "flashd_ge.lib")["DFF"].area)
    assert first.area == pytest.approx(sum(n * read_cells(BUILD / "flashd_ge.lib")[t].area for t, n in first.by_type.items()))
    assert again.cached and again.area == first.area
    generic = synth_module(text, "add8", mode="generic")
    assert generic.cells > 50 and generic.area == 0.0 and generic.flops == 9


def test_a_multiplier_grows_with_the_significand():
    small = synth_module(verilog_text(FPMul("fp8_e4m3"), "m8"), "m8", mode="generic").cells
    big = synth_module(verilog_text(FPMul("bf16"), "m16"), "m16", mode="generic").cells
    assert big > 1.5 * small


def test_missing_or_malformed_liberty_is_refused(tmp_path):
    text = verilog_text(FPAdd("fp8_e4m3"), "a8")
    with pytest.raises(SynthError, match="no such file"):
        synth_module(text, "a8", liberty=tmp_path / "none.lib")
    bad = tmp_path / "bad.lib"
    bad.write_text("hello")
    with pytest.raises(SynthError, match="not a Liberty file"):
        synth_module(text, "a8", liberty=bad)


def test_yosys_failure_names_the_kept_log():
    broken = "module broken(input a, output b);\n  assign b = ;\nendmodule\n"
    with pytest.raises(SynthError) as e:
        synth_module(broken, "broken")
    assert "yosys failed on broken" in str(e.value) and "yosys.log" in str(e.value)


def test_a_design_splits_into_its_units_and_the_glue():
    """Yosys writes each named child flattened under one name and the glue with the
    children as black boxes; the same unit of two designs gives the same text."""
    from flashd.hdl.attention import FlashDEngine
    units, glue, boxes = {}, {}, {}
    for d in (2, 3):
        text = verilog_text(FlashDEngine(d=d, fmt="fp8_e4m3"), f"e{d}")
        units[d], glue[d], boxes[d] = split_design(text, f"e{d}", ["dot", "o_fma0", "lsig"])
        assert set(units[d]) == {"dot", "o_fma0", "lsig"}
        assert all(f"module {UNIT}(" in t for t in units[d].values())
        assert f"module e{d}(" in glue[d] and f"e{d}.o_fma{d - 1}" in boxes[d]
    assert units[2]["o_fma0"] == units[3]["o_fma0"] and units[2]["lsig"] == units[3]["lsig"]
    assert units[2]["dot"] != units[3]["dot"]                 # 2 and 3 terms
