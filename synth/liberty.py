"""The default cell library: a small Liberty file whose areas are NAND2 gate equivalents (GE).

Relative areas are those of the NanGate FreePDK45 Open Cell Library's X1 cells divided by
NAND2_X1's 0.798 um^2 (INV_X1 0.532, AND2_X1 1.064, XOR2_X1 1.596, AOI21_X1 1.064,
MUX2_X1 1.862, FA_X1 4.256, HA_X1 2.660, DFF_X1 4.522, DFFR_X1 5.320 um^2): typical
standard-cell ratios, so area comes out in the unit papers use across technologies.
Yosys maps logic with ``abc -liberty`` (which uses the combinational cells' functions) and
flip-flops with ``dfflibmap`` (the ``ff`` groups).
"""

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["CELLS", "FLOPS", "write_liberty", "GE_LIBRARY_NAME", "LibCell", "read_cells"]

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


@dataclass(frozen=True)
class LibCell:
    area: float
    sequential: bool        # has an ff or latch group


_CELL = re.compile(r"\bcell\s*\(\s*\"?([^\s\")]+)\"?\s*\)\s*\{")
_AREA = re.compile(r"\barea\s*:\s*([-+0-9.eE]+)")
_SEQ = re.compile(r"\b(ff|latch|ff_bank|latch_bank)\s*\(")


@lru_cache(maxsize=8)
def read_cells(path):
    """``{cell name: LibCell}`` of a Liberty file: each ``cell`` group's ``area`` and whether
    it holds state (an ``ff`` or ``latch`` group). Cell groups do not nest, so a cell's
    attributes are those between its header and the next cell's."""
    text = Path(path).read_text(errors="replace")
    heads = list(_CELL.finditer(text))
    cells = {}
    for k, h in enumerate(heads):
        body = text[h.end():heads[k + 1].start() if k + 1 < len(heads) else len(text)]
        area = _AREA.search(body)
        cells[h.group(1)] = LibCell(float(area.group(1)) if area else 0.0, bool(_SEQ.search(body)))
    return cells
