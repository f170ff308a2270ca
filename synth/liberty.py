"""The default cell library: a small Liberty file whose areas are NAND2 gate equivalents (GE).

Relative areas are those of the NanGate FreePDK45 Open Cell Library's X1 cells divided by
NAND2_X1's 0.798 um^2 (INV_X1 0.532, AND2_X1 1.064, XOR2_X1 1.596, AOI21_X1 1.064,
MUX2_X1 1.862, FA_X1 4.256, HA_X1 2.660, DFF_X1 4.522, DFFR_X1 5.320 um^2): typical
standard-cell ratios, so area comes out in the unit papers use across technologies.
Yosys maps logic with ``abc -liberty`` (which uses the combinational cells' functions) and
flip-flops with ``dfflibmap`` (the ``ff`` groups).

The project's one Liberty reader: any Liberty file is read here (:func:`read_cells`,
:func:`units`, :func:`features`: timing, power, wire load; :func:`cell_logic`: each cell's
``function`` and ``ff`` group as truth tables for the netlist simulator), and prepared for
Yosys 0.23 (one file, ``dont_use`` marked: :func:`prepare`) by :mod:`flashd.synth.pdk`.
"""

import fnmatch
import gzip
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from flashd.verif.cache import unique_name

__all__ = ["CELLS", "FLOPS", "write_liberty", "GE_LIBRARY_NAME", "LibCell", "read_cells", "read_text", "units",
           "prepare", "LibertyError", "cell_bodies", "features", "parse_function", "CellLogic", "cell_logic"]

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
    tmp = path.with_name(unique_name(path.name) + ".tmp")
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
    inputs: tuple = ()      # input pin names
    max_capacitance: float = 0.0    # the most load its output may drive (0: not stated)


_CELL = re.compile(r"\bcell\s*\(\s*\"?([^\s\")]+)\"?\s*\)\s*\{")
_AREA = re.compile(r"\barea\s*:\s*([-+0-9.eE]+)")
_SEQ = re.compile(r"\b(ff|latch|ff_bank|latch_bank)\s*\(")
_DIRECTION_IN = re.compile(r"\bdirection\s*:\s*\"?input")
_FUNCTION = re.compile(r"\bfunction\s*:\s*\"([^\"]*)\"")
_DONT_USE = re.compile(r"\bdont_use\s*:\s*\"?true")
_MAXCAP = re.compile(r"\bmax_capacitance\s*:\s*([-+0-9.eE]+)")
_PIN = re.compile(r"\bpin\s*\(\s*\"?(\w+)\"?\s*\)\s*\{[^{}]*?\bdirection\s*:\s*\"?(\w+)")


def cell_bodies(text):
    """``(name, body)`` of every cell group. Cell groups do not nest, so a cell's
    attributes are those between its header and the next cell's."""
    heads = list(_CELL.finditer(text))
    for k, h in enumerate(heads):
        yield h.group(1), text[h.end():heads[k + 1].start() if k + 1 < len(heads) else len(text)]


@lru_cache(maxsize=8)
def read_cells(path):
    """``{cell name: LibCell}`` of a Liberty file: each cell's ``area``, whether it holds
    state (an ``ff`` or ``latch`` group), whether it is a buffer, ``dont_use``, its output and
    input pins and its output's ``max_capacitance``."""
    cells = {}
    for name, body in cell_bodies(read_text(path)):
        area = _AREA.search(body)
        functions = _FUNCTION.findall(body)
        seq = bool(_SEQ.search(body))
        buffer = (not seq and len(_DIRECTION_IN.findall(body)) == 1 and len(functions) == 1
                  and re.fullmatch(r"\(?\s*\w+\s*\)?", functions[0]) is not None)
        pins = _PIN.findall(body)
        outputs = tuple(dict.fromkeys(pin for pin, direction in pins if direction == "output"))
        inputs = tuple(dict.fromkeys(pin for pin, direction in pins if direction == "input"))
        cap = _MAXCAP.search(body)
        cells[name] = LibCell(float(area.group(1)) if area else 0.0, seq, buffer, bool(_DONT_USE.search(body)), outputs,
                              inputs, float(cap.group(1)) if cap else 0.0)
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
        for name, cell in cell_bodies(t[:t.rstrip().rfind("}")]):      # without the library's closing brace
            if name in seen:
                continue
            seen.add(name)
            if any(fnmatch.fnmatchcase(name, pat) for pat in dont_use):
                cell = "\n    dont_use : true;" + cell
            body.append(f"  cell ({name}) {{{cell}")
    return head + "\n".join(extra) + "\n" + "".join(body) + "}\n"


# ---- what a library has -------------------------------------------------------------------------

def features(text):
    """What the library ``text`` has: ``timing`` (delay tables), ``power`` (internal power
    tables) and ``wire_load``, its default wire-load model (None without one)."""
    first = _CELL.search(text)
    head = text[:first.start()] if first else text
    wire_load = re.search(r'default_wire_load\s*:\s*"?([^";]+)', head)
    return {"timing": "cell_rise" in text, "power": "internal_power" in text,
            "wire_load": wire_load.group(1).strip() if wire_load else None}


# ---- cell functions (the netlist simulator's truth tables) ---------------------------------------

MAX_INPUTS = 6          # a truth table in one uint64 (sky130's widest cell, mux4, has 6 inputs)

_TOKEN = re.compile(r"\s*(?:([A-Za-z_][\w\[\]]*)|([01])\b|(.))")


def parse_function(text):
    """A Liberty boolean ``function`` as ``(f, names)``: ``f(env)`` evaluates it on numpy
    arrays of 0/1 (``env`` maps each name to one), ``names`` the variables in order of use.
    Operators: ``!`` and postfix ``'`` (not), ``&``, ``*`` and adjacency (and), ``^`` (xor),
    ``|`` and ``+`` (or), parentheses, the constants 0 and 1."""
    tokens = []
    for ident, const, op in _TOKEN.findall(text):
        tokens.append(("id", ident) if ident else ("c", int(const)) if const else ("op", op))
    tokens = [t for t in tokens if t != ("op", "")]
    names, pos = [], [0]

    def peek():
        return tokens[pos[0]] if pos[0] < len(tokens) else ("end", None)

    def take(kind=None, value=None):
        t = peek()
        if (kind and t[0] != kind) or (value is not None and t[1] != value):
            raise LibertyError(f"Liberty function {text!r}: unexpected {t[1]!r}")
        pos[0] += 1
        return t

    def primary():
        t = peek()
        if t == ("op", "!"):
            take()
            inner = primary()
            return lambda env: 1 - inner(env)
        if t[0] == "id":
            take()
            if t[1] not in names:
                names.append(t[1])
            f = lambda env, n=t[1]: env[n]          # noqa: E731
        elif t[0] == "c":
            take()
            f = lambda env, c=t[1]: c               # noqa: E731
        elif t == ("op", "("):
            take()
            f = disjunction()
            take("op", ")")
        else:
            raise LibertyError(f"Liberty function {text!r}: unexpected {t[1]!r}")
        while peek() == ("op", "'"):
            take()
            f = (lambda g: lambda env: 1 - g(env))(f)
        return f

    def conjunction():
        f = primary()
        while peek() in (("op", "&"), ("op", "*")) or peek()[0] in ("id", "c") or peek() in (("op", "!"), ("op", "(")):
            if peek()[0] == "op" and peek()[1] in "&*":
                take()
            g = primary()
            f = (lambda a, b: lambda env: a(env) & b(env))(f, g)
        return f

    def exclusive():
        f = conjunction()
        while peek() == ("op", "^"):
            take()
            g = conjunction()
            f = (lambda a, b: lambda env: a(env) ^ b(env))(f, g)
        return f

    def disjunction():
        f = exclusive()
        while peek() in (("op", "|"), ("op", "+")):
            take()
            g = exclusive()
            f = (lambda a, b: lambda env: a(env) | b(env))(f, g)
        return f

    f = disjunction()
    if peek()[0] != "end":
        raise LibertyError(f"Liberty function {text!r}: unexpected {peek()[1]!r}")
    return f, names


def _table(function, inputs, cell):
    """A function's truth table over ``inputs`` as an int: bit ``i`` is its value when input
    ``k`` is bit ``k`` of ``i``."""
    f, names = parse_function(function)
    unknown = [n for n in names if n not in inputs]
    if unknown:
        raise LibertyError(f"cell {cell}: function {function!r} uses {unknown}, not among its inputs {list(inputs)}")
    if len(inputs) > MAX_INPUTS:
        raise LibertyError(f"cell {cell}: {len(inputs)} inputs, more than the {MAX_INPUTS} this simulator models")
    i = np.arange(1 << len(inputs))
    values = np.broadcast_to(np.asarray(f({n: (i >> k) & 1 for k, n in enumerate(inputs)}), dtype=np.int64), i.shape)
    return int(sum(int(v) << int(k) for k, v in zip(i, values, strict=True)))


@dataclass(frozen=True)
class CellLogic:
    """One cell: ``inputs`` (pin order), ``outputs`` ``{pin: (truth table, its variables)}``;
    a flip-flop has ``state`` (the ``ff`` group's two variable names), ``next_state``
    ``(truth table, variables)`` and ``clock`` (the pin it is clocked on)."""
    inputs: tuple
    outputs: dict
    state: tuple = ()
    next_state: tuple = ()
    clock: str = ""
    unsupported: str = ""           # why it cannot be simulated (said when a netlist uses it)


def _groups(body, kind):
    """``(argument, top-level text)`` of each ``kind ( ... ) { ... }`` group in ``body``,
    the nested groups of each cut out."""
    for m in re.finditer(rf"\b{kind}\s*\(\s*([^)]*?)\s*\)\s*\{{", body):
        depth, start, top = 1, m.end(), []
        last = start
        for b in re.finditer(r"[{}]", body[start:]):
            at = start + b.start()
            if b.group() == "{":
                if depth == 1:
                    top.append(body[last:at])
                depth += 1
            else:
                depth -= 1
                if depth == 1:
                    last = at + 1
                if depth == 0:
                    top.append(body[last:at])
                    break
        yield m.group(1), "".join(top)


def _attr(text, name):
    m = re.search(rf"\b{name}\s*:\s*\"?([^\";]*)\"?\s*;", text)
    return m.group(1).strip() if m else None


@lru_cache(maxsize=4)
def cell_logic(path):
    """``{cell: CellLogic}`` of a Liberty file (its ``function``, ``ff`` groups)."""
    cells = {}
    for name, body in cell_bodies(read_text(path)):
        pins = [(arg.strip('"'), top) for arg, top in _groups(body, "pin")]
        inputs = tuple(p for p, top in pins if _attr(top, "direction") == "input")
        why = ""
        if re.search(r"\b(latch|statetable|ff_bank|latch_bank)\s*\(", body):
            why = "a latch or state table"
        state, nxt, clock = (), (), ""
        ffs = list(_groups(body, "ff"))
        if ffs and not why:
            arg, top = ffs[0]
            state = tuple(x.strip().strip('"') for x in arg.split(","))
            if _attr(top, "clear") or _attr(top, "preset"):
                why = "an asynchronous clear or preset"
            else:
                clock = _attr(top, "clocked_on") or ""
                if clock not in inputs:
                    why = f"clocked on {clock!r}"
                else:
                    variables = tuple(v for v in inputs if v != clock) + state[:1]
                    try:
                        nxt = (_table(_attr(top, "next_state") or "", variables, name), variables)
                    except LibertyError as e:
                        why = str(e)
        outputs = {}
        if not why:
            for p, top in pins:
                fn = _attr(top, "function")
                if _attr(top, "direction") != "output" or fn is None:
                    continue
                variables = tuple(v for v in inputs if v != clock) + state
                try:
                    if state:           # the ff's negated variable: a function of the first
                        fn = re.sub(rf"\b{re.escape(state[1])}\b", f"!{state[0]}", fn) if len(state) > 1 else fn
                        used = parse_function(fn)[1]
                        variables = (state[0],) if set(used) <= {state[0]} else variables[:len(variables) - len(state) + 1]
                    outputs[p] = (_table(fn, variables, name), variables)
                except LibertyError as e:
                    why = str(e)
        cells[name] = CellLogic(inputs, outputs, state, nxt, clock, why)
    return cells
