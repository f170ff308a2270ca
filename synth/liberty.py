"""The default cell library: a small Liberty file whose areas are NAND2 gate equivalents (GE).

Relative areas are those of the NanGate FreePDK45 Open Cell Library's X1 cells divided by
NAND2_X1's 0.798 um^2 (INV_X1 0.532, AND2_X1 1.064, XOR2_X1 1.596, AOI21_X1 1.064,
MUX2_X1 1.862, FA_X1 4.256, HA_X1 2.660, DFF_X1 4.522, DFFR_X1 5.320 um^2): typical
standard-cell ratios, so area comes out in the unit papers use across technologies.
Yosys maps logic with ``abc -liberty`` (which uses the combinational cells' functions) and
flip-flops with ``dfflibmap`` (the ``ff`` groups).

Any other Liberty file is read here too (:func:`read_cells`, :func:`units`), prepared for
Yosys 0.23 (one file, ``dont_use`` marked: :func:`prepare`) by :mod:`flashd.synth.pdk`.
"""

import fnmatch
import gzip
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["CELLS", "FLOPS", "write_liberty", "GE_LIBRARY_NAME", "LibCell", "read_cells", "read_text", "units",
           "prepare", "LibertyError"]

GE_LIBRARY_NAME = "flashd_ge"
NAND2_UM2 = 0.798

# name: (area in um^2 of the NanGate X1 cell, inputs, function of the output Y)
CELLS = {
    "INV": (0.532, "A", "!A"),
    "BUF": (0.798, "A", "A"),
    "NAND2": (0.798, "A B", "!(A&B)"),
    "NOR2": (0.798, "A B", "!(A|B)"),
    "AND2": (1.064, "A B", "A&B"),
    "OR2": (1.064, "A B", "A|B"),
    "XOR2": (1.596, "A B", "(A&!B)|(!A&B)"),
    "XNOR2": (1.596, "A B", "!((A&!B)|(!A&B))"),
    "AOI21": (1.064, "A B C", "!((A&B)|C)"),
    "OAI21": (1.064, "A B C", "!((A|B)&C)"),
    "MUX2": (1.862, "A B S", "(A&!S)|(B&S)"),
}
# name: (area um^2, ff group body, extra input pins)
FLOPS = {
    "DFF": (4.522, 'next_state : "D"; clocked_on : "CK";', []),
    "DFFR": (5.320, 'next_state : "D"; clocked_on : "CK"; clear : "!RN";', ["RN"]),
    "DFFS": (5.320, 'next_state : "D"; clocked_on : "CK"; preset : "!SN";', ["SN"]),
}


def _ge(um2):
    return round(um2 / NAND2_UM2, 3)


def liberty_text():
    lines = [f"library ({GE_LIBRARY_NAME}) {{",
             '  /* areas in NAND2 gate equivalents: NanGate FreePDK45 X1 cell area / NAND2_X1 area */',
             '  delay_model : table_lookup;',
             '  time_unit : "1ns";', '  voltage_unit : "1V";', '  current_unit : "1mA";',
             '  capacitive_load_unit (1, ff);', '  pulling_resistance_unit : "1kohm";']
    for name, (um2, inputs, function) in CELLS.items():
        lines.append(f"  cell ({name}) {{")
        lines.append(f"    area : {_ge(um2)};")
        for pin in inputs.split():
            lines.append(f"    pin ({pin}) {{ direction : input; }}")
        lines.append(f'    pin (Y) {{ direction : output; function : "{function}"; }}')
        lines.append("  }")
    for name, (um2, body, extra) in FLOPS.items():
        lines.append(f"  cell ({name}) {{")
        lines.append(f"    area : {_ge(um2)};")
        lines.append(f"    ff (IQ, IQN) {{ {body} }}")
        lines.append("    pin (CK) { direction : input; clock : true; }")
        lines.append("    pin (D) { direction : input; }")
        for pin in extra:
            lines.append(f"    pin ({pin}) {{ direction : input; }}")
        lines.append('    pin (Q) { direction : output; function : "IQ"; }')
        lines.append("  }")
    lines.append("}")
    return "\n".join(line for line in lines if line) + "\n"


def write_liberty(path):
    """Write the GE library to ``path``; returns the path."""
    path, text = Path(path), liberty_text()
    if path.is_file() and path.read_text() == text:
        return path                     # never rewritten under a Yosys run of a parallel sweep
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


class LibertyError(ValueError):
    """A Liberty file that cannot be used; the message names the file."""


def read_text(path):
    """A Liberty file's text (``.gz`` files decompressed)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", errors="replace") as fh:
        return fh.read()


@dataclass(frozen=True)
class LibCell:
    area: float
    sequential: bool        # has an ff or latch group
    buffer: bool = False    # one input, output function equal to it (a driver for ABC's constraints)
    dont_use: bool = False
    outputs: tuple = ()     # output pin names (switching activity is read on their nets)


_CELL = re.compile(r"\bcell\s*\(\s*\"?([^\s\")]+)\"?\s*\)\s*\{")
_AREA = re.compile(r"\barea\s*:\s*([-+0-9.eE]+)")
_SEQ = re.compile(r"\b(ff|latch|ff_bank|latch_bank)\s*\(")
_DIRECTION_IN = re.compile(r"\bdirection\s*:\s*\"?input")
_FUNCTION = re.compile(r"\bfunction\s*:\s*\"([^\"]*)\"")
_DONT_USE = re.compile(r"\bdont_use\s*:\s*\"?true")
_PIN = re.compile(r"\bpin\s*\(\s*\"?(\w+)\"?\s*\)\s*\{[^{}]*?\bdirection\s*:\s*\"?(\w+)")


def _cell_bodies(text):
    """``(name, body)`` of every cell group. Cell groups do not nest, so a cell's
    attributes are those between its header and the next cell's."""
    heads = list(_CELL.finditer(text))
    for k, h in enumerate(heads):
        yield h.group(1), text[h.end():heads[k + 1].start() if k + 1 < len(heads) else len(text)]


@lru_cache(maxsize=8)
def read_cells(path):
    """``{cell name: LibCell}`` of a Liberty file: each cell's ``area``, whether it holds
    state (an ``ff`` or ``latch`` group), whether it is a buffer, ``dont_use``, and its output pins."""
    cells = {}
    for name, body in _cell_bodies(read_text(path)):
        area = _AREA.search(body)
        functions = _FUNCTION.findall(body)
        seq = bool(_SEQ.search(body))
        buffer = (not seq and len(_DIRECTION_IN.findall(body)) == 1 and len(functions) == 1
                  and re.fullmatch(r"\(?\s*\w+\s*\)?", functions[0]) is not None)
        outputs = tuple(dict.fromkeys(pin for pin, direction in _PIN.findall(body) if direction == "output"))
        cells[name] = LibCell(float(area.group(1)) if area else 0.0, seq, buffer, bool(_DONT_USE.search(body)), outputs)
    return cells


_UNIT = {"time": r"time_unit\s*:\s*\"?1?\s*([a-zA-Z]+)", "leakage": r"leakage_power_unit\s*:\s*\"?1?\s*([a-zA-Z]+)",
         "voltage": r"voltage_unit\s*:\s*\"?1?\s*([a-zA-Z]+)",
         "capacitance": r"capacitive_load_unit\s*\(\s*[0-9.]+\s*,\s*\"?([a-zA-Z]+)"}


def units(text, path="Liberty file"):
    """The library's units as written in its header: ``time`` (ns, ps), ``leakage`` (nW, pW),
    ``capacitance`` (pF, fF), ``voltage``; ``area`` is µm² by convention (Liberty has no
    area unit attribute). A missing time unit is an error: timing cannot be read without it."""
    first = _CELL.search(text)
    head = text[:first.start()] if first else text
    out = {"area": "µm²"}
    for key, pattern in _UNIT.items():
        m = re.search(pattern, head)
        out[key] = m.group(1) if m else None
    if out["capacitance"]:
        out["capacitance"] = out["capacitance"][:-1].lower() + "F"       # pf -> pF
    if out["time"] is None:
        raise LibertyError(f"{path}: no time_unit in the library header")
    return out


_GROUP = re.compile(r"^\s*(\w+)\s*\(\s*\"?([^\")]*)\"?\s*\)\s*\{", re.M)


def _header_groups(head):
    """``{(kind, name): text}`` of the groups in a library header (templates, wire loads,
    operating conditions); braces balanced by counting."""
    out = {}
    for m in _GROUP.finditer(head):
        if m.group(1) == "library":
            continue
        depth, i = 1, m.end()
        while depth and i < len(head):
            depth += {"{": 1, "}": -1}.get(head[i], 0)
            i += 1
        out.setdefault((m.group(1), m.group(2)), head[m.start():i])
    return out


def prepare(texts, dont_use=(), paths=None):
    """One Liberty text from one or several (Yosys 0.23's ``dfflibmap`` and ``abc`` read one
    file each; ASAP7 comes as several): the first file's header, the header groups of the
    others it lacks (their table templates differ by name), every cell once. Cells matching a
    ``dont_use`` glob get ``dont_use : true;`` (ABC and dfflibmap honour it). The files must
    agree on their units."""
    paths = paths or [f"file {k + 1}" for k in range(len(texts))]
    base_units = units(texts[0], paths[0])
    for t, p in zip(texts[1:], paths[1:], strict=True):
        if units(t, p) != base_units:
            raise LibertyError(f"{p}: units {units(t, p)} differ from {paths[0]}'s {base_units}")
    first_cell = [_CELL.search(t) for t in texts]
    for m, p in zip(first_cell, paths, strict=True):
        if m is None:
            raise LibertyError(f"{p}: not a Liberty file (no cell groups)")
    head = texts[0][:first_cell[0].start()]
    known = _header_groups(head)
    extra = []
    for t, m in zip(texts[1:], first_cell[1:], strict=True):
        for key, group in _header_groups(t[:m.start()]).items():
            if key not in known:
                known[key] = group
                extra.append(group)
    seen, body = set(), []
    for t in texts:
        for name, cell in _cell_bodies(t[:t.rstrip().rfind("}")]):      # without the library's closing brace
            if name in seen:
                continue
            seen.add(name)
            if any(fnmatch.fnmatchcase(name, pat) for pat in dont_use):
                cell = "\n    dont_use : true;" + cell
            body.append(f"  cell ({name}) {{{cell}")
    return head + "\n".join(extra) + "\n" + "".join(body) + "}\n"
