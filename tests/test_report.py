"""Engine reports, the comparison sweep, the trade-off table and the operator table (Yosys)."""

import json
import pickle
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from flashd.scripts.cli import main
from flashd.synth.pdk import library
from flashd.synth.report import engine_report
from flashd.synth.sweep import SearchTask, compare, table, tradeoff, tradeoff_table
from flashd.verif.accuracy import SHARED_DATA, configs, evaluate, heads
from flashd.verif.cache import unique_name

pytestmark = pytest.mark.yosys
# FA2 and FLASH-D fp8 d = 2 (GE): synthesized once for the CLI, trade-off and compare tests.
GE_FP8_D2 = pytest.mark.xdist_group("ge_fp8_d2")


def test_engines_d4_parts_add_up():
    """fp8, d = 4: the breakdown and the units add up to the area; FLASH-D has no
    normalization. (Which engine is smaller at d = 4 depends on the units: with the faithful
    ones FLASH-D's log-sigmoid outweighs what it saves; docs/synthesis.md has the sweeps.)"""
    fa2 = engine_report("fa2", d=4, fmt="fp8_e4m3")
    fd = engine_report("flashd", d=4, fmt="fp8_e4m3")
    for r in (fa2, fd):
        assert abs(sum(r["breakdown"].values()) - r["area"]) < 1
        assert abs(sum(u["area"] for u in r["units"]) - r["area"]) < 1
        assert r["flops"] > 4 * 8 and r["depth"] > 0 and r["loop_depth"] > 0
    assert fa2["breakdown"]["normalization"] > 0 and "normalization" not in fd["breakdown"]
    lanes = [u for u in fd["units"] if u["instance"].startswith("o_fma")]
    assert len(lanes) == 4 and len({u["area"] for u in lanes}) == 1      # identical lanes, one synthesis
    dot = {r["design"]: next(u for u in r["units"] if u["instance"] == "dot") for r in (fa2, fd)}
    assert dot["fa2"]["area"] == dot["flashd"]["area"] and dot["flashd"]["cached"]   # one unit, one synthesis


@GE_FP8_D2
def test_xdist_groups_reach_the_scheduler(request):
    """make test shares designs between the tests of an xdist group (one worker, in order: one
    synthesis); xdist passes the group to its scheduler in the test's id, which pytest 9.2
    silently dropped with xdist 3.8 (pytest-xdist issue 1386: the groups ran on both workers)."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run with pytest-xdist's --dist loadgroup (make test uses it)")
    assert request.node.nodeid.endswith("@ge_fp8_d2"), request.node.nodeid


@GE_FP8_D2
def test_cli_synth_and_bad_design(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["synth", "flashd", "--d", "2", "--fmt", "fp8_e4m3", "--json", str(out)]) == 0
    assert "| o_fma" in capsys.readouterr().out
    assert json.loads(out.read_text())["area"] > 0
    assert main(["synth", "flashd", "--d", "2", "--fmt", "fp8_e4m3", "--liberty", str(tmp_path / "x.lib")]) == 2
    assert "--liberty" in capsys.readouterr().err
    assert main(["synth", "flashd", "--d", "2", "--clock-ns", "5"]) == 2
    assert "GE library has no timing" in capsys.readouterr().err
    assert main(["synth", "flashd", "--d", "2", "--pdk", "sky130", "--clock-ns", "0"]) == 2
    assert "argument --clock-ns: 0: a clock period in ns, > 0 and < 1e6" in capsys.readouterr().err
    assert main(["synth", "fa3", "--d", "2"]) == 2
    assert "invalid choice: 'fa3'" in capsys.readouterr().err


def test_ops_area_sets_our_operators_beside_flopoco(capsys):
    assert main(["ops-area", "--fmt", "bf16", "--ops", "add,mul"]) == 0
    out = capsys.readouterr().out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| add") or line.startswith("| mul")]
    assert len(rows) == 2
    for r in rows:
        cells, ref = int(r[3]), int(r[4])
        assert ref in (442, 432) and 0.5 * ref < cells < 3 * ref
    assert main(["ops-area", "--ops", "div"]) == 2


@GE_FP8_D2
def test_tradeoff_sets_area_beside_real_data_error():
    if not SHARED_DATA.is_file():
        pytest.skip("shared MiniLM data not present")
    problems = heads(SHARED_DATA, 1)
    result, md = tradeoff("fp8_e4m3", 2, problems, progress=lambda m: None, labels=("FA2", "FLASH-D"))
    fa2, fd = result["rows"]
    assert fa2["parameters"]["design"] == "fa2" and fd["parameters"]["d"] == 2
    for row in (fa2, fd):                               # each row's area is its configuration's synthesis
        q = {k: v for k, v in row["parameters"].items() if k != "design"}
        assert row["area"] == engine_report(row["parameters"]["design"], **q)["area"] > 0
    want = evaluate(dict(configs("fp8_e4m3", problems[0][1].shape[1]))["FLASH-D"], problems)
    # all-fp8 FLASH-D is the more accurate with its weight loop in fixed point (the default)
    assert fd["rms_rel"] == want["rms_rel"] and fd["rms_rel"] < fa2["rms_rel"]
    assert "Smallest FLASH-D at equal or better RMS error than FA2: FLASH-D," in md
    assert tradeoff_table(json.loads(json.dumps(result))) == md         # what docs tables render from its JSON


@GE_FP8_D2
def test_compare_in_parallel_writes_the_same_rows_and_every_output(tmp_path):
    serial = compare([2], ["fp8_e4m3"], out_dir=tmp_path / "s", progress=lambda m: None)
    lines = []
    parallel = compare([2, 3], ["fp8_e4m3"], out_dir=tmp_path / "p", progress=lines.append, jobs=2)
    assert parallel[0]["fa2"] == serial[0]["fa2"] and parallel[0]["flashd"] == serial[0]["flashd"]
    assert [r["d"] for r in parallel] == [2, 3]
    assert all(r["reduction_pct"] == pytest.approx(100 * (r["flashd"] / r["fa2"] - 1), abs=0.05) for r in parallel)
    for ext in ("md", "csv", "json", "png"):
        assert (tmp_path / "p" / f"compare.{ext}").stat().st_size > 100
    data = json.loads((tmp_path / "p" / "compare.json").read_text())
    assert data["jobs"] == 2 and data["seconds"] > 0 and len(data["rows"]) == 2
    with ThreadPoolExecutor(2) as pool:              # any executor: the tasks are plain callables
        threaded = compare([2], ["fp8_e4m3"], out_dir=tmp_path / "t", progress=lambda m: None, executor=pool)
    assert threaded[0]["fa2"] == serial[0]["fa2"] and threaded[0]["reduction_pct"] == serial[0]["reduction_pct"]
    reversed_ = compare([2], ["fp8_e4m3"], out_dir=tmp_path / "r", progress=lambda m: None, designs=("flashd", "fa2"))
    r = serial[0]                                                                            # FA2 against FLASH-D
    assert reversed_[0]["baseline"] == "flashd" and reversed_[0]["reduction_pct"] == pytest.approx(
        100 * (r["fa2"] / r["flashd"] - 1), abs=0.05)
    assert "| FLASH-D (GE) | FA2 (GE) |" in (tmp_path / "r" / "compare.md").read_text()
    with pytest.raises(ValueError, match=r"designs=\['fa2', 'fa2'\]: a baseline and at least one other design"):
        compare([2], ["fp8_e4m3"], out_dir=tmp_path / "x", designs=("fa2", "fa2"))
    assert main(["compare", "--d", "2", "--jobs", "0"]) == 2


@GE_FP8_D2
def test_docs_tables_are_written_from_the_json_with_its_command(tmp_path, capsys):
    """``flashd tables``: a page's block holds what the named JSON renders and the command
    that wrote it; a changed figure makes the block stale (--check exits 1) until rewritten."""
    argv = ["compare", "--d", "2", "--fmt", "fp8_e4m3", "--out", str(tmp_path / "c")]
    assert main(argv) == 0                                              # cached by the test above
    data = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert data["kind"] == "compare" and data["provenance"]["command"] == "flashd " + " ".join(argv)
    page = tmp_path / "page.md"
    page.write_text("Intro.\n\n<!-- flashd-table: c/compare.json -->\n<!-- /flashd-table -->\nAfter.\n")
    assert main(["tables", "--check", str(page)]) == 1 and "is stale" in capsys.readouterr().out
    assert main(["tables", str(page)]) == 0 and main(["tables", "--check", str(page)]) == 0
    text = page.read_text()
    assert table(data["rows"]) in text and f"`flashd {' '.join(argv)}`" in text and text.endswith("After.\n")
    data["rows"][0]["fa2"] += 1                                         # a figure changes: the table is stale
    (tmp_path / "c" / "compare.json").write_text(json.dumps(data))
    assert main(["tables", "--check", str(page)]) == 1 and page.read_text() == text
    assert main(["tables", str(tmp_path / "missing.md")]) == 2



def test_sweep_tasks_carry_every_setting_and_survive_pickling(tmp_path):
    """A search task is a plain picklable object holding its library, cache root and Yosys
    runs (a worker on another host needs nothing from the environment); names of work files
    differ between processes and hosts."""
    task = SearchTask("flashd", 25.0, "fp8_e4m3", 1, (("update", "blend"),), library=library("sky130"),
                      cache=str(tmp_path), synth_jobs=1)
    back = pickle.loads(pickle.dumps(task))
    assert back == task and back.library == task.library and back.cache == str(tmp_path) and back.synth_jobs == 1
    assert back.key == ("flashd", 25.0, "fp8_e4m3", 1, (("update", "blend"),))
    a, b = unique_name("x"), unique_name("x")
    assert a != b and socket.gethostname() in a


def test_synth_reports_one_operator_alone_with_its_timing(tmp_path, capsys):
    """``flashd synth OP``: the operator synthesized alone, the engine report's fields; a
    combinational one timed input to output, a pipelined one from its registers."""
    reps = {}
    for stages in (0, 1):
        out = tmp_path / f"add{stages}.json"
        assert main(["synth", "add", "--fmt", "fp8_e4m3", "--stages", str(stages), "--pdk", "sky130",
                     "--clock-ns", "10", "--json", str(out)]) == 0
        reps[stages] = json.loads(out.read_text())
        assert "flashd_add_fp8_e4m3_s" in capsys.readouterr().out
    comb, piped = reps[0], reps[1]
    assert comb["flops"] == 0 < piped["flops"] and comb["latency"] == 0 and piped["latency"] == 1
    assert comb["area"] < piped["area"] and comb["parameters"] == {"op": "add", "stages": 0, "fmt": "fp8_e4m3"}
    assert comb["timing"]["critical_path"]["start"].startswith("i__") and comb["timing"]["critical_path"]["end"].startswith("o__")
    cp = piped["timing"]["critical_path"]
    assert "_reg" in cp["start"] + cp["end"]                      # the rank is on the worst path
    assert main(["synth", "add", "--d", "4"]) == 2 and "--d applies to the engines" in capsys.readouterr().err
    assert main(["synth", "fa2", "--d", "4", "--n", "3"]) == 2 and "--n applies to operators" in capsys.readouterr().err


def test_the_docs_tables_match_their_json(capsys):
    """Every result table in docs/ is what its JSON renders (run ``flashd tables docs/*.md``)."""
    pages = sorted((Path(__file__).parent.parent / "docs").glob("*.md"))
    assert sum(p.read_text().count("<!-- flashd-table:") for p in pages) >= 3
    assert main(["tables", "--check", *map(str, pages)]) == 0, capsys.readouterr().out
