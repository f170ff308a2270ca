"""Synthesized netlists simulated against the golden model: the sky130 netlist of each engine
(the one `flashd synth --pdk sky130 --clock-ns` reports), every cell's logic taken from the
liberty, random rows and rows of real attention data, bit-exact; and a netlist with one gate
changed fails."""

import re
from pathlib import Path

import numpy as np
import pytest

from flashd.synth import flow
from flashd.synth.netbench import regress_netlist
from flashd.synth.pdk import library
from flashd.verif import model
from flashd.verif.accuracy import SHARED_DATA, load_qkv
from flashd.verif.bench import RegressionFailed

pytestmark = [pytest.mark.sim, pytest.mark.yosys]

# One engine per format, each synthesized once for several tests (tests/test_sta.py's xdist groups):
# FLASH-D bf16 d = 2, S1 at 10 ns (its CLI synth test); FA2 fp8 d = 1 as timed at 25 ns (S3 P1,
# the closure search's design).
DESIGNS = {"flashd": dict(clock_ns=10.0, d=2, fmt="bf16", stages=1),
           "fa2": dict(clock_ns=25.0, d=1, fmt="fp8_e4m3", stages=3)}
BF16_D2_10NS = pytest.mark.xdist_group("sky130_bf16_d2_10ns")
CLOSURE_25NS = pytest.mark.xdist_group("sky130_fp8_d1_25ns")


def _real_groups(d, rows, fmt="bf16", P=1):
    """Real rows at a small d: the first d dimensions of one MiniLM head's q, k, v (N = 76),
    in groups of P rows."""
    if not SHARED_DATA.is_file():
        return []
    Q, K, V = load_qkv(SHARED_DATA, "t2_l1")
    q = model.from_float(fmt, Q[3, :rows * P, :d])
    k, v = (np.broadcast_to(model.from_float(fmt, X[3, :, :d]), (P, K.shape[1], d)) for X in (K, V))
    return [(q[r * P:(r + 1) * P], k, v) for r in range(rows)]


@pytest.mark.parametrize("design", [pytest.param("flashd", marks=BF16_D2_10NS), pytest.param("fa2", marks=CLOSURE_25NS)])
def test_sky130_netlist_matches_the_model(design):
    p = DESIGNS[design]
    groups = [1, 9, 30] + _real_groups(p["d"], 1, p["fmt"])
    result, rep = regress_netlist(design, "icarus", f"netlist_{design}", groups, library=library("sky130"), **p)
    assert result.ok and result.rows == len(groups), result.report()
    assert rep["timing"]["clock_ns"] == p["clock_ns"] and rep["cells"] > 500 and rep["area_unit"] == "µm²"
    if not SHARED_DATA.is_file():
        pytest.skip(f"random rows matched; real rows skipped: {SHARED_DATA} not found")


def test_a_streamed_output_netlist_matches_the_model():
    """FA2 fp8 d = 2 with its row leaving in beats of one value (one normalizing multiplier,
    two row buffers, the output FIFO), o.ready low in a third of the cycles."""
    result, rep = regress_netlist("fa2", "icarus", "netlist_stream", [1, 1, 1, 9, 30], library=library("sky130"),
                                  out_gap=0.3, clock_ns=25.0, d=2, fmt="fp8_e4m3", stages=2, out_lanes=1)
    assert result.ok and result.rows == 5 and result.stalls > 0, result.report()
    assert [u["instance"] for u in rep["units"] if u["instance"].startswith("norm")] == ["norm0"]


@CLOSURE_25NS
@pytest.mark.full
def test_a_fixed_point_loop_netlist_matches_the_model():
    """FLASH-D bf16 d = 1 with its weight loop in fixed point, saturating at +-4 (scores
    beyond it and states down to it in the random rows), P = 2 (make test's FLASH-D netlist
    has the default loop, 12 fraction bits and ±128, at P = 1)."""
    result, _ = regress_netlist("flashd", "icarus", "netlist_fixed_loop", [1, 12, 40], library=library("sky130"),
                                clock_ns=20.0, d=1, fmt="bf16", scalar_fmt="fp32", stages=1, interleave=2,
                                loop_frac=8, loop_int=2)
    assert result.ok and result.rows == 6, result.report()


@pytest.mark.full
def test_a_netlist_with_fanout_trees_everywhere_matches_the_model(monkeypatch):
    """FA2 fp8 d = 1 at 25 ns with a buffer for every 2 box input pins (the flow's FANOUT is 8,
    which at d = 1 buffers only the reset and valid nets): the trees carry every net into its
    units, the running max, the exponentials' inputs and the lanes' operands included."""
    monkeypatch.setattr(flow, "FANOUT", 2)
    p = DESIGNS["fa2"]
    result, rep = regress_netlist("fa2", "icarus", "netlist_fanout2", [1, 9, 30], library=library("sky130"), **p)
    assert result.ok and result.rows == 3, result.report()
    top = Path(rep["netlist"]).read_text()
    top = top[top.index("module e_fa2"):]
    assert top[:top.index("endmodule")].count("sky130_fd_sc_hd__buf_8 fanout$buf") > 20


@CLOSURE_25NS
def test_a_netlist_with_one_gate_changed_fails():
    """FA2 fp8 d = 1 as timed at 25 ns (S3 P1): the XOR that gives its dot product's term the
    sign of a product (a part every pair goes through) becomes an XNOR: the rows that matched
    now differ."""
    def mutate(text):
        dot = re.search(r"^\s*(u_[0-9a-f]+) \\dot\.unit ", text, re.M).group(1)
        body = text[text.index(f"module {dot}("):]
        module = re.search(r"^\s*(u_[0-9a-f]+) \\prod0\.unit ", body[:body.index("endmodule")], re.M).group(1)
        xor = re.compile(r"sky130_fd_sc_hd__xor2_1 (\S+) \(\s*\.A\(([^)]*)\),\s*\.B\(([^)]*)\),\s*\.X\(sign\)")
        m = xor.search(text, text.index(f"module {module}("))
        return text[:m.start()] + f"sky130_fd_sc_hd__xnor2_1 {m[1]} (.A({m[2]}), .B({m[3]}), .Y(sign)" + text[m.end():]
    design = dict(library=library("sky130"), **DESIGNS["fa2"])
    result, _ = regress_netlist("fa2", "icarus", "netlist_unmutated", [5, 9], seed=7, **design)
    assert result.ok and result.rows == 2, result.report()
    with pytest.raises(RegressionFailed, match="differ|rows expected"):
        regress_netlist("fa2", "icarus", "netlist_mutated", [5, 9], seed=7, mutate=mutate, **design)
