"""Buffer trees on the nets a glue module drives into its black boxes.

A glue module (an engine's top level, a dot product's assembly) is mapped with its units as
black boxes, so ABC sees a net that feeds 64 lane units as one output, not as 64 loads, and
leaves it unbuffered: OpenSTA then times one flip-flop driving every lane's input gates (FA2
fp16 d = 64: the reciprocal into the 64 normalization multipliers, 29.8 ns at any number of
stages). A flat synthesis would buffer that net, and so does this pass: every net bit with
more than :data:`FANOUT` box input pins gets a balanced tree of the library's buffer, each
buffer driving at most :data:`FANOUT` pins (the clock is left to the ideal clock network)."""

import re

from .netlist import CONN, DECL, INSTANCE, bits

__all__ = ["FANOUT", "buffer_cell", "buffer_fanout"]

FANOUT = 8                      # box input pins per buffer
_PREFIX = "fanout$"


def buffer_cell(library):
    """``(cell, input pin, output pin)``: the library's buffer that drives the most load per
    area (its output's ``max_capacitance`` over its area; sky130 hd: buf_8), not ``dont_use``."""
    found = [(c.max_capacitance / c.area, name) for name, c in library.cells().items()
             if c.buffer and not c.dont_use and c.max_capacitance > 0 and c.area > 0
             and len(c.inputs) == 1 and len(c.outputs) == 1]
    if not found:
        raise ValueError(f"{library.name}: no buffer cell with a max_capacitance to build fan-out trees from")
    name = max(found)[1]
    c = library.cells()[name]
    return name, c.inputs[0], c.outputs[0]


def _box_inputs(boxes):
    """``{module: {input port names}}`` of the black boxes' Verilog."""
    out = {}
    for chunk in re.split(r"^(?=module\s)", boxes, flags=re.M):
        m = re.match(r"module\s+(\S+?)\s*\(", chunk)
        if m:
            head = chunk.split(");", 1)[1] if ");" in chunk else chunk
            head = head[:head.find("endmodule")]
            out[m.group(1)] = {n.lstrip("\\") for kind, _, _, n in DECL.findall(head) if kind == "input"}
    return out


def _ref(key, widths):
    """A bit key (``name`` or ``name[k]``) as Verilog."""
    m = re.fullmatch(r"(.*)\[(\d+)\]", key)
    base, index = (m.group(1), f"[{m.group(2)}]") if m and m.group(1) in widths else (key, "")
    return (base if re.fullmatch(r"[A-Za-z_][\w$]*", base) else f"\\{base} ") + index


def buffer_fanout(text, boxes, cell, fanout=FANOUT):
    """The glue netlist ``text`` (one module, Yosys's ``write_verilog -noexpr``) with a buffer
    tree on each net bit that drives more than ``fanout`` input pins of the modules in
    ``boxes``; returns ``(text, buffers added)``. ``cell``: :func:`buffer_cell`."""
    if isinstance(fanout, bool) or not isinstance(fanout, int) or fanout < 2:
        raise ValueError(f"fanout={fanout!r}: box input pins per buffer, an integer >= 2")
    name, pin_in, pin_out = cell
    inputs = _box_inputs(boxes)
    widths = {}
    for _, hi, lo, n in DECL.findall(text):
        if hi:
            widths[n.lstrip("\\")] = tuple(sorted((int(hi), int(lo))))
    loads = {}                  # bit key -> [(instance index, pin, bit position)]
    instances = []
    for m in INSTANCE.finditer(text):
        kind = m.group(1)
        if kind not in inputs:
            continue
        conns = CONN.findall(m.group(3))
        k = len(instances)
        instances.append((m, conns, {}))
        for pin, expr in conns:
            if pin in inputs[kind] and pin != "clk" and expr:
                for pos, b in enumerate(bits(expr, widths)):
                    if not isinstance(b, int):
                        loads.setdefault(b, []).append((k, pin, pos))
    added, decls, cells = 0, [], []

    def buffer(src):
        nonlocal added
        out = f"{_PREFIX}{added}"
        decls.append(f"  wire {out};")
        cells.append(f"  {name} {_PREFIX}buf{added} (\n    .{pin_in}({_ref(src, widths)} ),\n    .{pin_out}({out})\n  );")
        added += 1
        return out

    def tree(src, n):
        """Drivers for ``n`` loads of ``src``: at most ``fanout`` loads per buffer, as few levels as need be."""
        if n <= fanout:
            return [src] * n
        groups = -(-n // fanout)
        tops = tree(src, groups)
        outs = [buffer(t) for t in tops]
        return [outs[i // fanout] for i in range(n)]

    for b, sinks in loads.items():
        if len(sinks) > fanout:
            for (k, pin, pos), driver in zip(sinks, tree(b, len(sinks)), strict=True):
                instances[k][2].setdefault(pin, {})[pos] = driver
    if not added:
        return text, 0
    pieces, at = [], 0
    for m, conns, changed in instances:
        if not changed:
            continue
        lines = []
        for pin, expr in conns:
            if pin in changed:
                new = bits(expr, widths)
                for pos, driver in changed[pin].items():
                    new[pos] = driver
                expr = "{ " + " , ".join(_ref(x, widths) if not isinstance(x, int) else f"1'b{x}"
                                         for x in reversed(new)) + " }"
            lines.append(f"    .{pin}({expr} )")          # the space ends an escaped name
        pieces += [text[at:m.start()], f"  {m.group(1)} {m.group(2).strip()} (\n" + ",\n".join(lines) + "\n  );"]
        at = m.end()
    body = "".join(pieces) + text[at:]
    end = body.rindex("endmodule")
    return body[:end] + "\n".join(decls + cells) + "\n" + body[end:], added
