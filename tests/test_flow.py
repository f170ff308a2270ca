"""The Yosys flow: a module maps to the library and is cached, areas and flip-flops come
from the library's own cells, a design's glue is split off with its units boxed, bad input
is refused."""

import pytest

from flashd.hdl.emit import verilog_text
from flashd.hdl.ops import FPAdd, FPMul
from flashd.synth.flow import BUILD, SynthError, split_glue, synth_module
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


def test_the_glue_keeps_the_top_and_boxes_its_children():
    """Yosys writes the top module alone, its children reduced to black boxes (ports only)."""
    from flashd.hdl.attention import FlashDEngine
    glue, boxes = split_glue(verilog_text(FlashDEngine(d=3, fmt="fp8_e4m3"), "e3"), "e3")
    assert glue.count("module ") == 1 and "module e3(" in glue
    assert "e3.o_fma2" in boxes and "e3.dot" in boxes and "assign" not in boxes
