"""The Yosys flow on small configurations: the GE library maps, reports parse, areas add up,
the cache works, FLASH-D is smaller than FA2 where it must be, and bad input is refused."""

import json

import pytest
from amaranth.back import verilog

from flashd.hdl.ops import FPAdd, FPMul
from flashd.scripts.cli import main
from flashd.synth.flow import SynthError, split_modules, synth_module
from flashd.synth.liberty import CELLS, FLOPS, liberty_text
from flashd.synth.parts import STEPS
from flashd.synth.report import engine_report


def _verilog(unit, name):
    return verilog.convert(unit, name=name, emit_src=False)


def test_liberty_has_every_cell_with_ge_areas():
    text = liberty_text()
    for name in list(CELLS) + list(FLOPS):
        assert f"cell ({name})" in text
    assert "area : 1.0;" in text                      # NAND2 is the unit
    assert "area : 0.667;" in text and "area : 5.667;" in text     # INV, DFF


def test_fp8_adder_maps_to_the_ge_library_and_is_cached():
    text = _verilog(FPAdd("fp8_e4m3", stages=1), "add8")
    first = synth_module(text, "add8", mode="cells")
    again = synth_module(text, "add8", mode="cells")
    assert 150 < first.area < 1500 and first.cells > 50 and first.depth > 5
    assert first.flops == 1 + 2 * 8 + 8 or first.flops > 8      # a rank of registers exists
    assert first.flop_area > 5 * first.flops - 1e-6
    assert again.cached and again.area == first.area
    generic = synth_module(text, "add8", mode="generic")
    assert generic.cells > 50 and generic.area == 0.0


def test_a_multiplier_grows_with_the_significand():
    small = synth_module(_verilog(FPMul("fp8_e4m3"), "m8"), "m8", mode="generic").cells
    big = synth_module(_verilog(FPMul("bf16"), "m16"), "m16", mode="generic").cells
    assert big > 1.5 * small


def test_engines_d4_flashd_is_smaller_and_parts_add_up():
    """fp8, d = 4: FLASH-D has no normalization and a cheaper weight path."""
    fa2 = engine_report("fa2", d=4, fmt="fp8_e4m3")
    fd = engine_report("flashd", d=4, fmt="fp8_e4m3")
    assert fd["total"] < fa2["total"]
    for r in (fa2, fd):
        assert abs(sum(r["breakdown"].values()) - r["total"]) < 1
        assert abs(sum(u["area"] for u in r["units"]) - r["total"]) < 1
        assert r["flops"] > 4 * 8 and r["depth"] > 0 and r["loop_depth"] > 0
    assert fa2["breakdown"]["normalization"] > 0 and "normalization" not in fd["breakdown"]
    lanes = [u for u in fd["units"] if u["instance"].startswith("o_fma")]
    assert len(lanes) == 4 and len({u["area"] for u in lanes}) == 1      # identical lanes, one synthesis


def test_missing_or_malformed_liberty_is_refused(tmp_path):
    text = _verilog(FPAdd("fp8_e4m3"), "a8")
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


def test_split_modules_finds_amaranth_submodules():
    mods = split_modules(_verilog(FPAdd("bf16"), "top"))
    assert "top" in mods and all(t.rstrip().endswith("endmodule") for t in mods.values())


def test_cli_synth_and_bad_design(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["synth", "flashd", "--d", "2", "--fmt", "fp8_e4m3", "--json", str(out)]) == 0
    assert "| o_fma" in capsys.readouterr().out
    assert json.loads(out.read_text())["total"] > 0
    assert main(["synth", "flashd", "--d", "2", "--fmt", "fp8_e4m3", "--liberty", str(tmp_path / "x.lib")]) == 2
    assert "--liberty" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", "fa3", "--d", "2"])


def test_ops_area_sets_our_operators_beside_flopoco(capsys):
    assert main(["ops-area", "--fmt", "bf16", "--ops", "add,mul"]) == 0
    out = capsys.readouterr().out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| add") or line.startswith("| mul")]
    assert len(rows) == 2
    for r in rows:
        cells, ref = int(r[3]), int(r[4])
        assert ref in (442, 432) and 0.5 * ref < cells < 3 * ref
    assert main(["ops-area", "--ops", "div"]) == 2


def _chain_matches_operator(op, fmt, count, seed):
    """The steps, wired one into the next, compute exactly what the operator computes."""
    import numpy as np
    from amaranth.hdl import Module
    from amaranth.sim import Simulator
    from flashd.hdl.ops import OPERATORS
    from flashd.hdl.format import as_format
    from flashd.synth.parts import part_modules

    m = Module()
    parts = part_modules(op, fmt)
    whole = m.submodules.whole = OPERATORS[op](fmt)
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


def test_tradeoff_sets_area_beside_real_data_error():
    from flashd.synth.report import tradeoff
    from flashd.verif.accuracy import SHARED_DATA, configs, evaluate, heads
    if not SHARED_DATA.is_file():
        pytest.skip("shared MiniLM data not present")
    problems = heads(SHARED_DATA, 1)
    rows, md = tradeoff("bf16", 2, problems, progress=lambda m: None, labels=("FA2", "FLASH-D"))
    fa2, fd = rows
    assert fa2["parameters"]["design"] == "fa2" and fd["parameters"]["d"] == 2
    assert 0 < fd["area"] < fa2["area"]                 # same formats: FLASH-D drops the normalization
    want = evaluate(dict(configs("bf16", problems[0][1].shape[1]))["FLASH-D"], problems)
    assert fd["rms_rel"] == want["rms_rel"] and fd["rms_rel"] > fa2["rms_rel"]   # all-bf16 FLASH-D is less accurate
    assert "No FLASH-D configuration reaches FA2's RMS error" in md


def test_compare_in_parallel_writes_the_same_rows_and_every_output(tmp_path):
    from flashd.synth.report import compare
    serial = compare([2], ["fp8_e4m3"], out_dir=tmp_path / "s", progress=lambda m: None)
    lines = []
    parallel = compare([2, 3], ["fp8_e4m3"], out_dir=tmp_path / "p", progress=lines.append, jobs=2)
    assert parallel[0]["fa2"] == serial[0]["fa2"] and parallel[0]["flashd"] == serial[0]["flashd"]
    assert [r["d"] for r in parallel] == [2, 3] and all(r["flashd"] < r["fa2"] for r in parallel)
    for ext in ("md", "csv", "json", "png"):
        assert (tmp_path / "p" / f"compare.{ext}").stat().st_size > 100
    data = json.loads((tmp_path / "p" / "compare.json").read_text())
    assert data["jobs"] == 2 and data["seconds"] > 0 and len(data["rows"]) == 2
    assert main(["compare", "--d", "2", "--jobs", "0"]) == 2
