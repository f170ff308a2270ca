"""A flat Verilog netlist of library cells (Yosys's ``write_verilog -noexpr``) read as bits:
its ports, its instances and their pin connections, its ``assign`` aliases. The netlist
simulator (:mod:`flashd.synth.gatesim`) and the power flow read it here."""

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NetlistError", "Netlist", "read_netlist", "bits", "DECL", "INSTANCE", "CONN"]


class NetlistError(ValueError):
    """A netlist this reader cannot take."""


DECL = re.compile(r"^[ \t]*(input|output|wire|inout)\s*(?:\[(\d+):(\d+)\])?\s*(\\\S+|\w+)\s*;", re.M)
INSTANCE = re.compile(r"^[ \t]*(\S+)\s+(\\\S+ |\S+)\s*\((.*?)\);", re.M | re.S)
CONN = re.compile(r"\.(\w+)\(\s*(.*?)\s*\)\s*(?:,|$)", re.S)
_ASSIGN = re.compile(r"^[ \t]*assign\s+(.*?)\s*=\s*(.*?)\s*;", re.M | re.S)
_CONST = re.compile(r"(\d+)'([bh])([0-9a-fA-FxXzZ_]+)")
_REF = re.compile(r"\s*(\\\S+|[A-Za-z_][\w$]*)\s*(?:\[(\d+)(?::(\d+))?\])?\s*")


@dataclass
class Netlist:
    """A flat netlist as bits: ``ports`` ``{name: (direction, [bit keys, LSB first])}``,
    ``instances`` ``[(name, cell, {pin: bit key})]``, ``alias`` ``{bit key: bit key or 0/1}``
    from its ``assign`` statements."""
    top: str
    ports: dict
    instances: list
    alias: dict


def bits(expr, widths):
    """Bit keys of a Verilog net expression (escaped or plain names, bit and part selects,
    sized constants, concatenations), LSB first; constants as 0 and 1."""
    expr = expr.strip()
    if expr.startswith("{"):
        parts, depth, cur = [], 0, ""
        for ch in expr[1:-1]:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += (ch == "{") - (ch == "}")
            cur += ch
        parts.append(cur)
        out = []
        for part in reversed(parts):                # MSB first in Verilog
            out += bits(part, widths)
        return out
    c = _CONST.fullmatch(expr)
    if c:
        n, base, digits = int(c.group(1)), c.group(2), c.group(3).replace("_", "")
        if re.search(r"[xXzZ]", digits):
            raise NetlistError(f"netlist constant {expr!r} has x or z bits")
        value = int(digits, 2 if base == "b" else 16)
        return [(value >> k) & 1 for k in range(n)]
    m = _REF.fullmatch(expr)
    if not m:
        raise NetlistError(f"netlist expression {expr!r} is not a net, a bit or part select, a constant or a concatenation")
    name, hi, lo = m.group(1), m.group(2), m.group(3)
    if name.startswith("\\"):
        name = name[1:]
    if hi is None:              # a whole net: a scalar, or every bit of a declared vector
        if name not in widths:
            return [name]
        hi, lo = widths[name][1], widths[name][0]
    lo = hi if lo is None else lo
    a, b = sorted((int(hi), int(lo)))
    return [f"{name}[{k}]" for k in range(a, b + 1)]


def read_netlist(path):
    """:class:`Netlist` of a flat Verilog netlist of library cells (``write_verilog -noexpr``)."""
    text = Path(path).read_text()
    m = re.search(r"^\s*module\s+(\S+?)\s*\(", text, re.M)
    if not m or text.count("endmodule") != 1:
        raise NetlistError(f"{path}: not one flat module")
    widths, ports = {}, {}
    for kind, hi, lo, name in DECL.findall(text):
        name = name[1:] if name.startswith("\\") else name
        if hi:
            widths[name] = tuple(sorted((int(hi), int(lo))))
        if kind in ("input", "output", "inout"):
            ports[name] = kind
    ports = {n: (kind, bits(n, widths)) for n, kind in ports.items()}
    body = re.sub(r"^[ \t]*(input|output|wire|inout|module|endmodule)\b.*\n?", "", text, flags=re.M)
    alias = {}
    for lhs, rhs in _ASSIGN.findall(body):
        left, right = bits(lhs, widths), bits(rhs, widths)
        if len(left) != len(right):
            raise NetlistError(f"{path}: assign {lhs} = {rhs}: {len(left)} bits from {len(right)}")
        alias.update(zip(left, right, strict=True))
    body = _ASSIGN.sub("", body)
    instances = []
    for cell, name, conns in INSTANCE.findall(body):
        pins = {}
        for pin, net in CONN.findall(conns):
            if net:
                b = bits(net, widths)
                if len(b) != 1:
                    raise NetlistError(f"{path}: {name.strip()}.{pin} is connected to {len(b)} bits ({net})")
                pins[pin] = b[0]
        instances.append((name.strip().lstrip("\\"), cell, pins))
    return Netlist(m.group(1), ports, instances, alias)
