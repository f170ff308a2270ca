"""Power from simulated activity: the sky130 netlist of a small engine (FLASH-D, fp8, d = 4 at
25 ns, with the stages and P test_sta's timing closure finds at d = 1, whose units it shares: 4
lanes and a 4-term dot product), its gate-level model simulated bit-exact on random and real
rows with SAIF, and OpenSTA's per-instance power at that activity; the method against
OpenSTA's own figure at a uniform activity; bad input."""

import json

import numpy as np
import pytest

from flashd.scripts.cli import main
from flashd.synth.flow import flat_netlist
from flashd.synth.pdk import library
from flashd.synth.power import (
    GLUE,
    PowerError,
    activity_power,
    cell_outputs,
    engine_power,
    instance_power,
    opensta_power,
)
from flashd.synth.report import engine_report

from .test_netlists import _real_groups

pytestmark = [pytest.mark.sim, pytest.mark.yosys, pytest.mark.xdist_group("sky130_fp8_d1_25ns")]  # tests/test_sta.py

CLOCK_NS = 25.0
# the published units and the row out at once: a smaller netlist to simulate (the power flow
# is under test, not the units or the output stream)
DESIGN = dict(d=4, fmt="fp8_e4m3", stages=3, interleave=3, method="pwl", out_lanes=None)


def test_power_of_a_small_engine_adds_up_and_comes_from_a_checked_simulation(tmp_path):
    lib = library("sky130")
    groups = [9, 30] + _real_groups(DESIGN["d"], 2, "fp8_e4m3", 3)
    lines = []
    r = engine_power("flashd", library=lib, clock_ns=CLOCK_NS, groups=groups, source="random and real rows",
                     work=tmp_path, progress=lines.append, **DESIGN)
    pw = r["power"]
    sim_lines = [x for x in lines if x.startswith("  netlist simulation: ")]
    assert len(sim_lines) == pw["pairs"] // (pw["pairs"] // 10), lines          # a line per tenth of the pairs
    assert r["timing"]["met"] and r["timing"]["clock_ns"] == CLOCK_NS and r["parameters"]["d"] == 4
    assert pw["unit"] == "nW" and pw["instances"] > 1000 and pw["instances_without_activity"] == 0
    assert f"{3 * len(groups)} rows" in pw["activity_source"] and pw["activity_source"].endswith("ok")
    assert pw["dynamic"] > 0 and pw["leakage"] > 0 and pw["total"] == pytest.approx(pw["dynamic"] + pw["leakage"])
    parts = pw["per_unit"]
    assert {"dot product", "softmax / weight path", "output update lanes", GLUE} == set(parts)   # no normalization
    for key in ("dynamic", "leakage", "total"):
        assert sum(p[key] for p in parts.values()) == pytest.approx(pw[key], rel=1e-9)
    # energy per pair: average power over every simulated cycle at the design's clock
    energy = pw["total"] * 1e-9 * CLOCK_NS * 1e-9 * pw["cycles_simulated"] * 1e12
    assert pw["energy_per_pair"] == pytest.approx(energy / pw["pairs"]) and pw["pairs"] == 3 * (9 + 30 + 2 * 76)
    assert json.loads((tmp_path / "power.json").read_text())["power"]["total"] == pw["total"]


def test_activity_applied_per_instance_matches_openstas_own_figure_at_a_uniform_activity():
    """The linear method (P0 + (P1 - P0) * a per instance) against OpenSTA's report_power with
    every net at the same activity: the one case both can compute."""
    lib = library("sky130")
    rep = engine_report("flashd", library=lib, clock_ns=CLOCK_NS, **DESIGN)
    flat = flat_netlist(rep["netlist"], rep["top"], lib)
    inst = instance_power(flat, rep["top"], lib, CLOCK_NS, flat.parent / "power_check")
    outputs = cell_outputs(flat, lib)
    for a in (0.1, 0.35):
        ours, missing = activity_power(inst, outputs, lambda pin, net, a=a: a, lambda n: GLUE)
        theirs = opensta_power(flat, rep["top"], lib, CLOCK_NS, a)
        assert not missing and ours["total"] == pytest.approx(theirs, rel=2e-3), (a, ours["total"], theirs)
    low, _ = activity_power(inst, outputs, lambda pin, net: 0.1, lambda n: GLUE)
    assert ours["dynamic"] > 1.5 * low["dynamic"]          # the activity matters (beside the clock pins)


def test_an_instance_without_activity_is_reported():
    lib = library("sky130")
    rep = engine_report("flashd", library=lib, clock_ns=CLOCK_NS, **DESIGN)
    flat = flat_netlist(rep["netlist"], rep["top"], lib)
    inst = instance_power(flat, rep["top"], lib, CLOCK_NS, flat.parent / "power_check")
    _, missing = activity_power(inst, cell_outputs(flat, lib), lambda pin, net: None, lambda n: GLUE)
    assert len(missing) == len(inst)


def test_bad_power_input_names_the_option(capsys, tmp_path):
    assert main(["power", "fa2", "--pdk", "sky130"]) == 2
    assert "power needs --clock-ns" in capsys.readouterr().err
    assert main(["power", "fa2", "--clock-ns", "10"]) == 2
    assert "has no timing" in capsys.readouterr().err
    assert main(["power", "fa2", "--pdk", "sky130", "--clock-ns", "10", "--stages", "1"]) == 2
    assert "give both --stages and --interleave" in capsys.readouterr().err
    assert main(["power", "fa2", "--pdk", "sky130", "--clock-ns", "10", "--npz", str(tmp_path / "x.npz")]) == 2
    assert "x.npz: no such file" in capsys.readouterr().err
    assert main(["power", "fa2", "--pdk", "sky130", "--clock-ns", "10", "--random", "4"]) == 2
    assert "--random needs --d" in capsys.readouterr().err
    assert main(["power", "fa2", "--pdk", "sky130", "--clock-ns", "10", "--random", "4", "--d", "2",
                 "--activity", "verilator", "--inputs", "registered"]) == 2
    assert "inputs 'registered' with activity verilator: allowed bench" in capsys.readouterr().err
    assert main(["power", "fa2", "--pdk", "sky130", "--clock-ns", "10", "--random", "4"]) == 2
    assert "--random needs --d" in capsys.readouterr().err
    bad = tmp_path / "nan.npz"
    q = np.zeros((4, 8))
    q[1, 2] = np.nan
    np.savez(bad, q=q, k=np.zeros((5, 8)), v=np.zeros((5, 8)))
    assert main(["power", "fa2", "--pdk", "sky130", "--clock-ns", "10", "--npz", str(bad)]) == 2
    assert "nan.npz" in capsys.readouterr().err
    ok = tmp_path / "d8.npz"
    np.savez(ok, q=np.zeros((4, 8)), k=np.zeros((5, 8)), v=np.zeros((5, 8)))
    assert main(["power", "fa2", "--pdk", "sky130", "--clock-ns", "10", "--npz", str(ok), "--d", "4"]) == 2
    assert "--d 4: d8.npz has d=8" in capsys.readouterr().err
    assert main(["power", "fa2", "--pdk", "sky130", "--clock-ns", "10", "--npz", str(ok), "--skip-study"]) == 2
    assert "--skip-study is FLASH-D's" in capsys.readouterr().err
    assert main(["power", "flashd", "--pdk", "sky130", "--clock-ns", "10", "--npz", str(ok), "--skip-study",
                 "--skip-below", "none"]) == 2
    assert "--skip-study sets skip_below itself" in capsys.readouterr().err
    assert main(["compare", "--d", "8", "--pdk", "sky130", "--power"]) == 2
    assert "--power needs --clock-ns" in capsys.readouterr().err
    assert main(["compare", "--d", "4", "--pdk", "sky130", "--clock-ns", "10", "--power", "--npz", str(ok)]) == 2
    assert "--power at d=4: d8.npz has d=8" in capsys.readouterr().err
    with pytest.raises(PowerError, match="no power data"):
        instance_power("unused.v", "top", library(), 10.0, tmp_path)


@pytest.mark.full
def test_the_hierarchical_gate_model_gives_the_flat_models_power(tmp_path):
    """The units kept as modules (Verilator compiles each distinct unit once) against the flat
    model, same rows: the same activity but for the power-up transient (flip-flops start at
    other random values), so within 1% over a few hundred cycles."""
    lib = library("sky130")
    groups = [150, 150] + _real_groups(DESIGN["d"], 2, "fp8_e4m3", 3)
    r = {flat: engine_power("flashd", library=lib, clock_ns=CLOCK_NS, groups=groups, source="rows", flat=flat,
                            activity="verilator",
                            work=tmp_path / str(flat), progress=lambda m: None, **DESIGN)["power"] for flat in (False, True)}
    assert r[True]["cycles_simulated"] == r[False]["cycles_simulated"] > 400
    assert r[False]["total"] == pytest.approx(r[True]["total"], rel=0.01)
    for unit, part in r[True]["per_unit"].items():
        assert r[False]["per_unit"][unit]["total"] == pytest.approx(part["total"], rel=0.02), unit
