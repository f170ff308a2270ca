"""Buffer trees on the nets a glue module drives into its black boxes."""

import re

import pytest

from flashd.synth.fanout import FANOUT, buffer_cell, buffer_fanout
from flashd.synth.netlist import CONN, DECL, INSTANCE, bits
from flashd.synth.pdk import library

BOX = """module u_box(a, b, clk, y);
  input [1:0] a;
  wire [1:0] a;
  input b;
  input clk;
  output y;
endmodule
"""
BUF = ("buf_x", "A", "X")


def _glue(n):
    """A glue module: one flip-flop output and one input bit each drive ``n`` boxes."""
    inst = "\n".join(f"  u_box \\lane{k}.unit  (\n    .a({{ \\q_reg$1 , d[{k % 3}] }}),\n    .b(\\q_reg$1 ),\n"
                     f"    .clk(clk),\n    .y(y[{k}])\n  );" for k in range(n))
    return (f"module top(clk, d, y);\n  input clk;\n  wire clk;\n  input [2:0] d;\n  wire [2:0] d;\n"
            f"  output [{n - 1}:0] y;\n  wire [{n - 1}:0] y;\n  wire \\q_reg$1 ;\n"
            f"  dff q_reg (\n    .CLK(clk),\n    .D(d[0]),\n    .Q(\\q_reg$1 )\n  );\n{inst}\nendmodule\n")


def _drivers(text):
    """``{net bit: [box input pins it drives]}`` and ``{buffer output: buffer input}``."""
    widths = {n.lstrip("\\"): tuple(sorted((int(h), int(lo)))) for _, h, lo, n in DECL.findall(text) if h}
    loads, bufs = {}, {}
    for cell, name, conns in INSTANCE.findall(text):
        pins = dict(CONN.findall(conns))
        if cell == "u_box":
            for pin in ("a", "b", "clk"):
                for pos, b in enumerate(bits(pins[pin], widths)):
                    loads.setdefault(b, []).append((name.strip().lstrip("\\"), pin, pos))
        elif cell == BUF[0]:
            bufs[bits(pins["X"], widths)[0]] = bits(pins["A"], widths)[0]
    return loads, bufs


def _tree(loads, fanout):
    """Buffers of a balanced tree: one per ``fanout`` loads, then one per ``fanout`` of those..."""
    return 0 if loads <= fanout else -(-loads // fanout) + _tree(-(-loads // fanout), fanout)


@pytest.mark.parametrize("n, fanout", [(20, 4), (4, 8), (9, 8), (65, 8)])
def test_every_box_pin_is_reached_through_a_tree_of_bounded_fanout(n, fanout):
    text, count = buffer_fanout(_glue(n), BOX, BUF, fanout=fanout)
    # q_reg$1 feeds a[1] and b of every box; d[j] feeds a[0] of every third
    added = _tree(2 * n, fanout) + sum(_tree(len(range(j, n, 3)), fanout) for j in range(3))
    assert count == added and text.count(f"  {BUF[0]} ") == added and (added > 0) == (2 * n > fanout)
    loads, bufs = _drivers(text)
    fed = {b: 0 for b in list(loads) + list(bufs.values())}        # what each net drives: box pins and buffers
    for b, pins in loads.items():
        fed[b] += len(pins)
    for src in bufs.values():
        fed[src] += 1
    assert all(v <= fanout for b, v in fed.items() if b != "clk") and len(loads["clk"]) == n     # clock untouched

    def root(b):
        while b in bufs:
            b = bufs[b]
        return b
    for k in range(n):                          # each pin still sees the signal it saw before, through buffers
        name = f"lane{k}.unit"
        got = {(pin, pos): root(b) for b, pins in loads.items() for (inst, pin, pos) in pins if inst == name}
        assert got == {("a", 0): f"d[{k % 3}]", ("a", 1): "q_reg$1", ("b", 0): "q_reg$1", ("clk", 0): "clk"}


def test_the_buffer_is_the_strongest_per_area():
    cell, a, x = buffer_cell(library("sky130"))
    assert (cell, a, x) == ("sky130_fd_sc_hd__buf_8", "A", "X")          # max_capacitance 5 pF at 15.0 µm²
    assert FANOUT == 8 and re.fullmatch(r"\w+", cell)
