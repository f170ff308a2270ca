"""Static timing with OpenSTA on sky130 netlists: timing-driven mapping shortens a path,
the report is consistent (slack, critical path, fmax), loop paths end at their state
registers, whole-design paths cross units, and OpenSTA failures name the log."""

import csv
import json
from types import SimpleNamespace

import pytest

from flashd.hdl.emit import verilog_text
from flashd.hdl.ops import FPAdd
from flashd.scripts.cli import main
from flashd.synth import closure, flow
from flashd.synth.closure import close_timing
from flashd.synth.flow import synth_module
from flashd.synth.pdk import library
from flashd.synth.report import engine_report
from flashd.synth.sta import StaError, run_sta
from flashd.synth.sweep import compare_at_clock, tradeoff
from flashd.verif.accuracy import SHARED_DATA, configs, evaluate, heads
from flashd.verif.designs import DESIGNS, engine_params

pytestmark = pytest.mark.yosys

# The timing closure of fp8 d = 1 at 25 ns: searched by the first test of this group, then
# cached for the others (xdist's --dist loadgroup runs a group on one worker, in order; the
# power tests in verif/test_power.py take its FLASH-D design).
CLOSURE_25NS = pytest.mark.xdist_group("sky130_fp8_d1_25ns")
# FLASH-D bf16 d = 2, S1 at 10 ns: synthesized once for the CLI test here and verif/test_netlists.py.
BF16_D2_10NS = pytest.mark.xdist_group("sky130_bf16_d2_10ns")


def _adder_timing(clock_ns):
    lib = library("sky130")
    r = synth_module(verilog_text(FPAdd("bf16", stages=1), "add"), "add", library=lib, clock_ns=clock_ns,
                     rename=False)
    return r, run_sta(r.netlist, "add", lib, clock_ns)


def test_a_tight_clock_maps_a_faster_adder_and_the_report_is_consistent():
    """bf16 adder, one register rank: at 2 ns ABC buffers and sizes for speed (larger area,
    shorter path) than at 20 ns; slack, critical path and fmax agree with each other."""
    loose, t_loose = _adder_timing(20.0)
    tight, t_tight = _adder_timing(2.0)
    assert t_tight.critical_ns < 0.9 * t_loose.critical_ns and tight.area > loose.area
    for t in (t_loose, t_tight):
        assert t.critical_ns == pytest.approx(t.clock_ns - t.wns_ns, abs=1e-3)
        assert t.fmax_mhz == pytest.approx(1000 / t.critical_ns, rel=1e-3)
        assert t.met == (t.wns_ns >= 0) and t.critical_path["delay_ns"] < t.critical_ns
    assert t_loose.met and not t_tight.met and t_tight.tns_ns < 0 and t_loose.wire_load == "Small"


@CLOSURE_25NS
def test_engine_paths_cross_units_and_loops_end_at_their_state():
    """FA2 fp8 d=1, no pipelining (the closure search's first step at 25 ns): the worst path runs
    from a register through several units (a whole-design path); each loop's path ends at its
    own state register."""
    rep = engine_report("fa2", library=library("sky130"), clock_ns=25.0, d=1, fmt="fp8_e4m3")
    t = rep["timing"]
    units = [u for u in t["critical_path"]["units"] if u != "(top level)"]
    assert len(units) >= 3 and not t["met"]
    assert set(t["loops"]) == {"running max m", "sum l", "lanes o"}
    for loop in t["loops"].values():
        assert loop["end"].startswith(loop["state"][0]) and loop["end"].endswith("_reg")
        assert loop["critical_ns"] <= t["critical_ns"] + 1e-6
    assert "max" in t["loops"]["running max m"]["units"] and "l_fma" in t["loops"]["sum l"]["units"]


@BF16_D2_10NS
def test_cli_synth_writes_area_and_timing_json(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["synth", "flashd", "--d", "2", "--fmt", "bf16", "--stages", "1", "--pdk", "sky130",
                 "--clock-ns", "10", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Timing at 10.0 ns (sky130_fd_sc_hd tt_025C_1v80" in text and "wire-load model Small" in text
    r = json.loads(out.read_text())
    assert r["area_unit"] == "µm²" and r["flops"] > 50 and r["cells"] > r["flops"]
    assert abs(sum(u["area"] for u in r["units"]) - r["area"]) < 1
    t = r["timing"]
    assert {"clock_ns", "critical_ns", "wns_ns", "fmax_mhz", "critical_path"} <= set(t)
    assert t["clock_ns"] == 10.0 and {"start", "end", "delay_ns", "units"} <= set(t["critical_path"])


def test_an_unreadable_netlist_names_the_log(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module top(input clk); sky130_fd_sc_hd__nand2_1 g (.A(clk), .B(; endmodule\n")
    with pytest.raises(StaError, match=r"log kept at .*sta.log"):
        run_sta(bad, "top", library("sky130"), 10.0, work=tmp_path / "sta")


@CLOSURE_25NS
def test_close_timing_adds_one_rank_at_a_time_until_the_clock_is_met(tmp_path):
    """fp8, d = 1 at 25 ns: every step adds one stage or one P where the worst path was (both
    kinds here); the last design meets the clock and those before it did not; a retry with
    fewer stages after that (the search tries them once the clock is met) did not meet it."""
    rep, full = close_timing("flashd", 25.0, library=library("sky130"), fmt="fp8_e4m3", d=1, progress=lambda m: None)
    trace, retries = [t for t in full if not t["retry"]], [t for t in full if t["retry"]]
    assert all(not t["wns_ns"] >= 0 for t in retries)
    assert rep["timing"]["met"] and trace[-1]["next"] is None and len(trace) >= 3
    assert all(not t["wns_ns"] >= 0 for t in trace[:-1]) and trace[-1]["wns_ns"] >= 0
    for a, b in zip(trace, trace[1:], strict=False):
        step = (b["stages"] - a["stages"], b["interleave"] - a["interleave"])
        assert step == ((1, 0) if a["next"] == "stages" else (0, 1))
    assert (rep["parameters"]["stages"], rep["parameters"]["interleave"]) == (trace[-1]["stages"], trace[-1]["interleave"])
    assert {t["next"] for t in trace[:-1]} == {"stages", "interleave"}
    # the same design with each unit timed alone: no unit's own worst path is longer than the
    # design's (in place a unit's inputs come later than at its ports)
    q = {k: v for k, v in rep["parameters"].items() if k != "design"}
    timed = engine_report("flashd", library=library("sky130"), clock_ns=25.0, unit_timing=True, **q)
    delays = [u["delay_ns"] for u in timed["units"] if "netlist" in u]
    assert len(delays) == len(timed["units"]) - 1 and None not in delays
    assert 1.0 < max(delays) <= timed["timing"]["critical_ns"] + 0.01, (delays, timed["timing"]["critical_ns"])


def test_cli_compare_at_a_clock_needs_a_library_with_timing(capsys):
    assert main(["compare", "--d", "2", "--fmt", "fp8_e4m3", "--clock-ns", "10"]) == 2
    assert "GE library has no timing" in capsys.readouterr().err
    assert main(["compare", "--d", "2", "--pdk", "sky130", "--clock-ns", "10,x"]) == 2
    assert "'x' is not a number" in capsys.readouterr().err


@pytest.mark.parametrize("misses,synthesized,found", [
    ({"exp_c": -1.0, "dot": -5.0}, 1, ("exp_c", -1.0)),     # a feed-forward unit misses: the dot product is not needed
    ({"l_fma": -1.0, "dot": -5.0}, 2, ("dot", -5.0)),       # a loop unit misses: is the dot product worse? it is
    ({"dot": -2.0}, 2, ("dot", -2.0)),                      # every other unit passes
    ({}, 2, None)])
def test_the_units_check_leaves_the_dot_product_for_last(monkeypatch, misses, synthesized, found):
    """The unit-by-unit check (closure._units_missing) with the syntheses and OpenSTA stood in for:
    the dot product, sized here as most of the Verilog (as at d >= 32), is synthesized in a
    second round, skipped when a feed-forward unit already misses; the answer is the worst unit
    whenever the search's next step (stages or P) could depend on it."""
    names = {u: m[0] for u, m in flow.unit_groups(engine_params("fa2", fmt="fp8_e4m3", d=1)).items()}
    rounds = []

    def synth(params, *, groups, **kw):
        rounds.append(sorted(m[0] for m in groups.values()))
        return {u: (m, SimpleNamespace(netlist=f"/x/{m[0]}.v", ports=["clk"])) for u, m in groups.items()}
    monkeypatch.setattr(closure, "unit_verilog", lambda u: "x" * (10_000 if names[u] == "dot" else 100))
    monkeypatch.setattr(closure, "synth_units", synth)
    monkeypatch.setattr(closure, "unit_slacks", lambda units, *a: {m: misses.get(m[len(flow.BOX_PREFIX):], 1.0)
                                                                   for m in units})
    assert closure._units_missing(DESIGNS["fa2"], 25.0, None, "fp8_e4m3", 1, 0, 1, {}, None) == found
    assert len(rounds) == synthesized and rounds[0] == sorted(set(names.values()) - {"dot"})
    assert rounds[1:] in ([], [["dot"]])


def test_the_search_retries_fewer_stages_at_the_interleave_that_met(monkeypatch):
    """The search (closure.close_timing) with the syntheses stood in for by a timing model of
    FLASH-D at d >= 64: below P = 3 the worst path is feed-forward (the weight broadcast into
    the lanes) and stages are added up to 4 before P is; at P = 3 two stages are enough. Having
    met at 4 / 3, the search retries stages 0..3 at P = 3 and returns 2 / 3."""
    def report(design, *, stages, interleave, **kw):
        met = interleave >= 3 and stages >= 2
        critical = 20.0 if met else 26.0 if interleave >= 3 else 40.0 - 2 * stages if stages < 4 else 30.0
        return {"timing": {"met": met, "critical_ns": critical, "wns_ns": 25.0 - critical,
                           "loop": interleave < 3 and stages >= 4},
                "area": 1000.0 * (1 + stages + interleave), "area_unit": "um2",
                "parameters": {"stages": stages, "interleave": interleave}}
    monkeypatch.setattr(closure, "_units_missing", lambda *a: None)
    monkeypatch.setattr(closure, "engine_report", report)
    monkeypatch.setattr(closure, "_loop_path", lambda loop_units, t: t["loop"])
    rep, trace = closure.close_timing("flashd", 25.0, library=None, fmt="bf16", d=64, progress=lambda m: None)
    steps = [(t["stages"], t["interleave"], t["retry"]) for t in trace]
    assert steps == [(0, 1, False), (1, 1, False), (2, 1, False), (3, 1, False), (4, 1, False), (4, 2, False),
                     (4, 3, False), (0, 3, True), (1, 3, True), (2, 3, True)]
    assert rep["parameters"] == {"stages": 2, "interleave": 3} and rep["timing"]["met"]


@CLOSURE_25NS
def test_a_clock_the_bounds_cannot_meet_names_what_limits_it():
    rep, trace = close_timing("flashd", 25.0, library=library("sky130"), fmt="fp8_e4m3", d=1, max_stages=0,
                              max_interleave=1, progress=lambda m: None)
    assert not rep["timing"]["met"] and "the stages bound (0) is reached" in rep["timing"]["limited_by"]
    # at stages 0 and P 1 the worst path runs through the dot product into FLASH-D's ring (its fixed-point step) and
    # back to the loop's state
    limit = rep["timing"]["limited_by"]
    assert "dot > s_fix > (top level) > loop" in limit and "lw_state" in limit and rep["parameters"]["stages"] == 0


@CLOSURE_25NS
def test_tradeoff_at_a_clock_times_each_configuration_and_keeps_its_error(tmp_path):
    """fp8, d = 1 at 25 ns: each configuration is the design close_timing finds (stages and P
    chosen by timing), its error the same as without a clock (neither knob changes the arithmetic).
    Then compare_at_clock with power on the same two designs (cached: one search, not two)."""
    if not SHARED_DATA.is_file():
        pytest.skip("shared MiniLM data not present")
    problems = heads(SHARED_DATA, 1)
    lib = library("sky130")
    result, md = tradeoff("fp8_e4m3", 1, problems, library=lib, progress=lambda m: None, labels=("FA2", "FLASH-D"),
                          clock_ns=25.0)
    rows = result["rows"]
    data = dict(configs("fp8_e4m3", problems[0][1].shape[1]))
    for row, design, label in zip(rows, ("fa2", "flashd"), ("FA2", "FLASH-D"), strict=True):
        rep, _ = close_timing(design, 25.0, library=lib, fmt="fp8_e4m3", d=1, progress=lambda m: None)
        assert row["timing"]["met"] and row["timing"]["clock_ns"] == 25.0 and row["area"] == rep["area"]
        assert row["parameters"] == rep["parameters"] and row["rms_rel"] == evaluate(data[label], problems)["rms_rel"]
    assert rows[1]["parameters"]["interleave"] > 1           # FLASH-D's weight loop needs P at 25 ns
    assert "at 25.0 ns" in md and "| stages / P | fmax (MHz) |" in md
    assert f"| {rows[1]['parameters']['stages']} / {rows[1]['parameters']['interleave']} |" in md
    _compare_at_a_clock_with_power_measures_the_designs_it_found(tmp_path)   # the same two designs, cached


def _compare_at_a_clock_with_power_measures_the_designs_it_found(tmp_path):
    """fp8, d = 1 at 25 ns: ``power`` is asked for exactly the two designs the search found,
    and the table, CSV and JSON carry its figures and the FLASH-D vs FA2 ratio (a stand-in
    power function here; the power itself is tested in verif/test_power.py)."""
    asked = []

    def power(design, clock, parameters):
        asked.append((design, clock, parameters["stages"], parameters["interleave"]))
        total = {"fa2": 2.0e6, "flashd": 1.5e6}[design]          # nW
        return {"power": {"unit": "nW", "total": total, "dynamic": total - 10.0, "leakage": 10.0,
                          "energy_per_pair": total * 25e-9 * 1e-9 * 1e12, "energy_per_row": 1.0,
                          "data": f"stand-in {design}", "activity_source": "SAIF; bit-exact: ok"}}
    rows = compare_at_clock([1], ["fp8_e4m3"], [25.0], library=library("sky130"), out_dir=tmp_path,
                            progress=lambda m: None, jobs=1, power=power)
    r = rows[0]
    assert asked == [(e, 25.0, r[e]["stages"], r[e]["interleave"]) for e in ("fa2", "flashd")]
    assert r["power_reduction_pct"] == -25.0 and r["flashd"]["power"]["total_mw"] == pytest.approx(1.5)
    md = (tmp_path / "compare_clock.md").read_text()
    assert "| fp8_e4m3 | 1 | 25.0 | 2.000 | 1.500 | -25.0% | 50.0 / 37.5 | stand-in flashd |" in md
    assert "(paper, 28 nm: -20.3%)" in md and "| energy per (k, v) pair FA2 / FLASH-D (pJ) | rows simulated |" in md
    saved = json.loads((tmp_path / "compare_clock.json").read_text())
    assert saved["paper_power_reduction_pct"] == -20.3 and saved["rows"][0]["power_reduction_pct"] == -25.0
    with open(tmp_path / "compare_clock.csv") as fh:
        line = next(csv.DictReader(fh))
    assert float(line["power_reduction_pct"]) == -25.0 and float(line["fa2_total_mw"]) == pytest.approx(2.0)
