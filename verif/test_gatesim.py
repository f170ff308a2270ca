"""flashd's own netlist simulator (synth/gatesim.py, its bench synth/netbench.py), the power flow's activity: Liberty
functions as truth tables, checked against the same expressions evaluated by Python; the
small engine of verif/test_power.py simulated from its flat netlist, every cell output's
toggle count equal to Verilator's SAIF of the gate-level model on the same bench; a netlist
with one gate changed fails the bit-exact check; what it cannot model is refused by name."""

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from flashd.synth import gatesim
from flashd.synth.flow import BOX_PREFIX, flat_netlist, gate_model
from flashd.synth.liberty import LibertyError, cell_logic, parse_function
from flashd.synth.netbench import INPUTS, run_engine
from flashd.synth.netlist import read_netlist
from flashd.synth.pdk import library
from flashd.synth.power import engine_power, read_saif, saif_activity
from flashd.synth.report import engine_report
from flashd.verif.attention_bench import make_stimulus
from flashd.verif.designs import engine_params

from .test_netlists import _real_groups

CLOCK_NS = 25.0
DESIGN = dict(d=4, fmt="fp8_e4m3", stages=3, interleave=3, method="pwl", out_lanes=None)   # verif/test_power.py's engine


def _stimulus(groups, seed):
    return make_stimulus(engine_params("flashd", **DESIGN), groups, np.random.default_rng(seed))


@pytest.mark.parametrize("text,python", [
    ("!(A & B)", "not (A and B)"), ("A B'", "A and not B"), ("(A+B)*C", "(A or B) and C"),
    ("A^B | !C", "(A != B) or not C"), ("(A&!S) | (B&S)", "B if S else A"), ("1", "True"), ("!A'", "A"),
])
def test_liberty_functions_are_read_as_python_reads_them(text, python):
    f, names = parse_function(text)
    for values in itertools.product((0, 1), repeat=3):
        env = dict(zip("ABC", values, strict=True))
        env["S"] = env["C"]
        assert int(f(env)) == int(eval(python, {}, {k: bool(v) for k, v in env.items()})), (text, env)


def test_sky130_cells_become_truth_tables():
    logic = cell_logic(str(library("sky130").path))
    table, names = logic["sky130_fd_sc_hd__mux4_1"].outputs["X"]
    assert names == ("A0", "A1", "A2", "A3", "S0", "S1")
    for i in range(64):
        a, s = [(i >> k) & 1 for k in range(4)], ((i >> 4) & 1) + 2 * ((i >> 5) & 1)
        assert (table >> i) & 1 == a[s]
    ff = logic["sky130_fd_sc_hd__dfxtp_1"]
    assert ff.clock == "CLK" and ff.state[0] == "IQ" and ff.outputs["Q"] == (0b10, ("IQ",))
    assert logic["sky130_fd_sc_hd__a21oi_1"].outputs["Y"][0] == 0b0111      # !((A1 & A2) | B1)
    assert "latch" in logic["sky130_fd_sc_hd__dlxtp_1"].unsupported
    assert "clear" in logic["sky130_fd_sc_hd__dfrtp_1"].unsupported


def _power_up_values(gates):
    """``{"instance.pin": 0/1}``: the flip-flop start values of a gate-level model with units
    kept as modules (``setundef -init``: one set per module, so every instance of a unit
    starts the same)."""
    body = {m.group(1): m.group(2) for m in re.finditer(r"^module (\S+)\((.*?)^endmodule", gates, re.M | re.S)}

    def values(text):
        # Yosys 0.70 may keep the start value on another name of the flip-flop's output net (a
        # reader's pin) and assign the flip-flop's own name from it
        init = {m.group(1): int(m.group(2)) for m in re.finditer(r"reg \\?(\S+)\s*= 1'h([01]);", text)}
        for lhs, rhs in re.findall(r"assign \\?(\S+)\s*=\s*\\?(\S+)\s*;", text):
            if rhs in init:
                init.setdefault(lhs, init[rhs])
        return init

    init = values(body["engine"])
    for module, inst in re.findall(r"^\s*(u_[0-9a-f]+)\s+\\?(\S+)\s*\(", body["engine"], re.M):
        init.update({f"{inst}.{name}": v for name, v in values(body[module]).items()})
    return init


@pytest.mark.sim
@pytest.mark.yosys
@pytest.mark.xdist_group("sky130_fp8_d1_25ns")        # tests/test_sta.py: the units this engine shares
def test_the_netlist_simulation_counts_every_toggle_verilators_saif_counts(tmp_path):
    """Same netlist, same bench, same flip-flop power-up values (the gate model's): every cell
    output's toggle count is Verilator's (its default model: one module per unit), so the
    power is too; and the power flow with its own power-up values."""
    lib = library("sky130")
    groups = [9, 30] + _real_groups(DESIGN["d"], 2, "fp8_e4m3", 3)
    ref = engine_power("flashd", library=lib, clock_ns=CLOCK_NS, groups=groups, source="rows", activity="verilator",
                       work=tmp_path, progress=lambda m: None, **DESIGN)
    toggles, cycles = read_saif(ref["saif"])
    rep = engine_report("flashd", library=lib, clock_ns=CLOCK_NS, **DESIGN)
    init = _power_up_values(gate_model(rep["netlist"], rep["top"], lib, "engine", keep=BOX_PREFIX + "*"))
    flat = flat_netlist(rep["netlist"], rep["top"], lib)
    sim = gatesim.GateSim(read_netlist(flat), lib, init=init, seed=None)   # others 0, as Verilator starts them
    result, edges = run_engine(sim, _stimulus(groups, 1), seed=1, inputs="bench")
    assert result.ok and str(result) in ref["power"]["activity_source"] and edges == cycles
    saif = saif_activity(toggles, cycles)
    pins = {pin: saif(pin, "") for pin in sim.pin_bit}
    assert len(pins) == ref["power"]["instances"] > 9000 and None not in pins.values()
    differ = [pin for pin, b in sim.pin_bit.items() if round(pins[pin] * cycles) != sim.toggles[b]]
    assert differ == []
    assert sum(sim.toggles[b] for b in sim.pin_bit.values()) > 100 * len(pins)      # the data moved
    own = engine_power("flashd", library=lib, clock_ns=CLOCK_NS, groups=groups, source="rows", work=tmp_path / "own",
                       progress=lambda m: None, inputs="bench", **DESIGN)["power"]
    assert own["cycles_simulated"] == cycles and own["total"] == pytest.approx(ref["power"]["total"], rel=0.01)
    assert own["inputs"] == ref["power"]["inputs"] == "bench"


@pytest.mark.yosys
@pytest.mark.xdist_group("sky130_fp8_d1_25ns")
def test_inputs_that_change_with_the_flip_flops_drop_only_the_half_cycle_state():
    """Register-fed inputs (the power flow's default) against the cocotb bench's falling-edge
    inputs, same netlist, rows and power-up values: the same results; each flip-flop's and
    each input's count the same (they change once a cycle either way); no net counted more;
    and fewer changes in all, since this engine's lanes mix inputs and state."""
    lib = library("sky130")
    rep = engine_report("flashd", library=lib, clock_ns=CLOCK_NS, **DESIGN)
    netlist = read_netlist(flat_netlist(rep["netlist"], rep["top"], lib))
    stim = _stimulus([12, 20] + _real_groups(DESIGN["d"], 1, "fp8_e4m3", 3), 5)
    sims, results = {}, {}
    for inputs in INPUTS:
        sims[inputs] = gatesim.GateSim(netlist, lib, seed=5)
        results[inputs], _ = run_engine(sims[inputs], stim, seed=5, inputs=inputs)
        assert results[inputs].ok, (inputs, results[inputs].report(3))
    assert results["registered"] == results["bench"]
    reg, bench = sims["registered"].toggles, sims["bench"].toggles
    sources = np.concatenate([sims["bench"].flop_q, [b for bits in sims["bench"].inputs.values() for b in bits]])
    assert (reg[sources] == bench[sources]).all() and bench[sources].sum() > 1000
    assert (reg <= bench).all()
    assert reg.sum() < 0.99 * bench.sum()
    with pytest.raises(ValueError, match=r"^inputs 'falling': one of registered, bench$"):
        run_engine(sims["bench"], stim, seed=5, inputs="falling")
    with pytest.raises(ValueError, match=r"^inputs 'registered' with activity verilator: allowed bench "):
        engine_power("flashd", library=lib, clock_ns=CLOCK_NS, groups=[4], source="rows", activity="verilator",
                     inputs="registered", progress=lambda m: None, **DESIGN)


@pytest.mark.yosys
@pytest.mark.xdist_group("sky130_fp8_d1_25ns")
def test_a_netlist_with_one_gate_changed_fails_the_check():
    lib = library("sky130")
    rep = engine_report("flashd", library=lib, clock_ns=CLOCK_NS, **DESIGN)
    flat = Path(flat_netlist(rep["netlist"], rep["top"], lib))
    stim = _stimulus([12, 20], 3)
    assert run_engine(gatesim.GateSim(read_netlist(flat), lib), stim, seed=3)[0].ok
    text = flat.read_text()
    gate = re.search(r"sky130_fd_sc_hd__nand2_1 (\\?o_fma1\.unit\.\S+) ", text)
    bad = flat.parent / "mutated.flat.v"
    bad.write_text(text.replace(gate.group(0), gate.group(0).replace("nand2", "nor2"), 1))
    result, _ = run_engine(gatesim.GateSim(read_netlist(bad), lib), stim, seed=3)
    assert not result.ok and str(result).endswith("FAIL") and "lanes [1] differ" in result.report()


@pytest.mark.parametrize("body,message", [
    ("sky130_fd_sc_hd__dlxtp_1 l0 (.D(a), .GATE(clk), .Q(y));", r"l0: cell sky130_fd_sc_hd__dlxtp_1 has a latch"),
    ("sky130_fd_sc_hd__dfxtp_1 f0 (.CLK(a), .D(a), .Q(y));",
     r"f0 \(sky130_fd_sc_hd__dfxtp_1\) is clocked by a, not by the port clk"),
    ("sky130_fd_sc_hd__inv_1 i0 (.A(n), .Y(y));", r"1 nets read by cells are driven by nothing \(e.g. \['n'\]\)"),
    ("sky130_fd_sc_hd__inv_1 i0 (.A(n), .Y(y));\n  sky130_fd_sc_hd__inv_1 i1 (.A(y), .Y(n));",
     r"2 cell outputs are on combinational loops"),
    ("my_cell u0 (.A(a), .Y(y));", r"u0 is of cell my_cell, which is not in .*sky130"),
    ("sky130_fd_sc_hd__nand2_1 g0 (.A(a), .Y(y));", r"g0 \(sky130_fd_sc_hd__nand2_1\) has input B unconnected"),
])
def test_what_the_simulator_cannot_model_is_named(tmp_path, body, message):
    path = tmp_path / "n.v"
    path.write_text(f"module top(clk, a, y);\n  input clk; input a; output y;\n  wire n;\n  {body}\nendmodule\n")
    with pytest.raises(gatesim.GateSimError, match=message):
        gatesim.GateSim(read_netlist(path), library("sky130"))


def test_a_malformed_liberty_function_is_named():
    with pytest.raises(LibertyError, match=r"Liberty function 'A & \(B': unexpected None"):
        parse_function("A & (B")
