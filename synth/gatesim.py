"""Switching activity without a simulator build: a zero-delay, cycle-based simulation of the
flat mapped netlist itself (the one OpenSTA reports power for), every cell's logic taken from
its Liberty ``function`` (a truth table per output pin) and its ``ff`` group, evaluated level
by level with numpy. It counts each net's value changes between evaluations: with the cocotb
bench's timing, as Verilator's SAIF does, two per clock cycle, one after the rising edge (the
flip-flops), one after the falling edge (the cocotb driver writes the inputs there,
:mod:`flashd.verif.stream`); with register-fed inputs one per cycle (:func:`run_engine`).

Why: the Verilator build of a d = 64 gate-level model took 8 of a power run's 12 minutes (the
C++ of 200,000 cells, half of it trace code); here there is nothing to build. What is not
supported (latches, ``statetable`` cells, asynchronous clear/preset) is refused by cell name.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .liberty import _cell_bodies, read_text

__all__ = ["GateSimError", "cell_logic", "parse_function", "Netlist", "read_netlist", "GateSim", "INPUTS", "run_engine"]

MAX_INPUTS = 6          # a truth table in one uint64 (sky130's widest cell, mux4, has 6 inputs)


class GateSimError(ValueError):
    """A netlist or cell this simulator cannot model."""


# ---- Liberty functions -------------------------------------------------------------------------

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
            raise GateSimError(f"Liberty function {text!r}: unexpected {t[1]!r}")
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
            raise GateSimError(f"Liberty function {text!r}: unexpected {t[1]!r}")
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
        raise GateSimError(f"Liberty function {text!r}: unexpected {peek()[1]!r}")
    return f, names


def _table(function, inputs, cell):
    """A function's truth table over ``inputs`` as an int: bit ``i`` is its value when input
    ``k`` is bit ``k`` of ``i``."""
    f, names = parse_function(function)
    unknown = [n for n in names if n not in inputs]
    if unknown:
        raise GateSimError(f"cell {cell}: function {function!r} uses {unknown}, not among its inputs {list(inputs)}")
    if len(inputs) > MAX_INPUTS:
        raise GateSimError(f"cell {cell}: {len(inputs)} inputs, more than the {MAX_INPUTS} this simulator models")
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
    for name, body in _cell_bodies(read_text(path)):
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
                    except GateSimError as e:
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
                except GateSimError as e:
                    why = str(e)
        cells[name] = CellLogic(inputs, outputs, state, nxt, clock, why)
    return cells


# ---- the flat netlist ---------------------------------------------------------------------------

_DECL = re.compile(r"^[ \t]*(input|output|wire|inout)\s*(?:\[(\d+):(\d+)\])?\s*(\\\S+|\w+)\s*;", re.M)
_INSTANCE = re.compile(r"^[ \t]*(\S+)\s+(\\\S+ |\S+)\s*\((.*?)\);", re.M | re.S)
_CONN = re.compile(r"\.(\w+)\(\s*(.*?)\s*\)\s*(?:,|$)", re.S)
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


def _bits(expr, widths):
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
            out += _bits(part, widths)
        return out
    c = _CONST.fullmatch(expr)
    if c:
        n, base, digits = int(c.group(1)), c.group(2), c.group(3).replace("_", "")
        if re.search(r"[xXzZ]", digits):
            raise GateSimError(f"netlist constant {expr!r} has x or z bits")
        value = int(digits, 2 if base == "b" else 16)
        return [(value >> k) & 1 for k in range(n)]
    m = _REF.fullmatch(expr)
    if not m:
        raise GateSimError(f"netlist expression {expr!r} is not a net, a bit or part select, a constant or a concatenation")
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
        raise GateSimError(f"{path}: not one flat module")
    widths, ports = {}, {}
    for kind, hi, lo, name in _DECL.findall(text):
        name = name[1:] if name.startswith("\\") else name
        if hi:
            widths[name] = tuple(sorted((int(hi), int(lo))))
        if kind in ("input", "output", "inout"):
            ports[name] = kind
    ports = {n: (kind, _bits(n, widths)) for n, kind in ports.items()}
    body = re.sub(r"^[ \t]*(input|output|wire|inout|module|endmodule)\b.*\n?", "", text, flags=re.M)
    alias = {}
    for lhs, rhs in _ASSIGN.findall(body):
        left, right = _bits(lhs, widths), _bits(rhs, widths)
        if len(left) != len(right):
            raise GateSimError(f"{path}: assign {lhs} = {rhs}: {len(left)} bits from {len(right)}")
        alias.update(zip(left, right, strict=True))
    body = _ASSIGN.sub("", body)
    instances = []
    for cell, name, conns in _INSTANCE.findall(body):
        pins = {}
        for pin, net in _CONN.findall(conns):
            if net:
                b = _bits(net, widths)
                if len(b) != 1:
                    raise GateSimError(f"{path}: {name.strip()}.{pin} is connected to {len(b)} bits ({net})")
                pins[pin] = b[0]
        instances.append((name.strip().lstrip("\\"), cell, pins))
    return Netlist(m.group(1), ports, instances, alias)


# ---- the simulator -------------------------------------------------------------------------------

class GateSim:
    """A :class:`Netlist` compiled for numpy: one value per bit (``uint8``), the
    combinational outputs in levels, each a truth-table lookup; flip-flop state beside them.
    ``init``: ``{"instance.pin": 0/1}`` start values of flip-flops, by the net of an output
    pin that follows one (through buffers); the others random from ``seed`` (0 if None)."""

    def __init__(self, netlist, library, *, clock="clk", seed=1, init=None):
        logic = cell_logic(str(library.path))
        self.netlist = netlist
        index = {0: 0, 1: 1}

        def bit(key):
            seen = set()
            while key in netlist.alias:
                if key in seen:
                    raise GateSimError(f"{netlist.top}: assign loop through {key}")
                seen.add(key)
                key = netlist.alias[key]
            if key not in index:
                index[key] = len(index)
            return index[key]
        self.inputs = {n: [bit(b) for b in bits] for n, (kind, bits) in netlist.ports.items() if kind == "input"}
        self.outputs = {n: [bit(b) for b in bits] for n, (kind, bits) in netlist.ports.items() if kind == "output"}
        nodes, flops, self.pin_bit = [], [], {}
        rng = np.random.default_rng(seed)
        for name, cell, pins in netlist.instances:
            lc = logic.get(cell)
            if lc is None:
                raise GateSimError(f"{netlist.top}: instance {name} is of cell {cell}, which is not in {library.path}")
            if lc.unsupported:
                raise GateSimError(f"{netlist.top}: instance {name}: cell {cell} has {lc.unsupported}, "
                                   "which this simulator does not model (flashd power --activity verilator does)")
            missing = [v for v in lc.inputs if v not in pins]
            if missing:
                raise GateSimError(f"{netlist.top}: instance {name} ({cell}) has input {', '.join(missing)} unconnected")
            if lc.state:
                if lc.clock not in pins or bit(pins[lc.clock]) != bit(clock):
                    raise GateSimError(f"{netlist.top}: flip-flop {name} ({cell}) is clocked by "
                                       f"{pins.get(lc.clock)}, not by the port {clock}")
                q = len(index)
                index[("state", name)] = q
                nxt = len(index)
                index[("next", name)] = nxt
                flops.append((q, nxt, int(rng.integers(2)) if seed is not None else 0))
                nodes.append((nxt, [bit(pins[v]) for v in lc.next_state[1][:-1]] + [q], lc.next_state[0]))
            for pin, (table, variables) in lc.outputs.items():
                if pin not in pins:
                    continue
                ins = [index[("state", name)] if lc.state and v == lc.state[0] else bit(pins[v]) for v in variables]
                out = bit(pins[pin])
                self.pin_bit[f"{name}.{pin}"] = out
                nodes.append((out, ins, table))
        self.size = len(index)
        driven = {n[0] for n in nodes}
        if len(driven) != len(nodes):
            raise GateSimError(f"{netlist.top}: a net is driven by two cell outputs")
        sources = {0, 1} | {b for bits in self.inputs.values() for b in bits} | {q for q, _, _ in flops}
        undriven = {b for n in nodes for b in n[1]} - driven - sources
        if undriven:
            names = [k for k, v in index.items() if v in undriven][:3]
            raise GateSimError(f"{netlist.top}: {len(undriven)} nets read by cells are driven by nothing (e.g. {names})")
        self._levelize(nodes, sources)
        self.flop_q = np.array([q for q, _, _ in flops], dtype=np.int64)
        self.flop_next = np.array([n for _, n, _ in flops], dtype=np.int64)
        self.values = np.zeros(self.size, dtype=np.uint8)
        self.values[1] = 1
        self.values[self.flop_q] = np.array([v for _, _, v in flops], dtype=np.uint8)
        driver = {o: (ins, table) for o, ins, table in nodes}
        state = set(self.flop_q.tolist())
        for net, value in (init or {}).items():
            b = self.pin_bit.get(net)
            while b in driver and len(driver[b][0]) == 1 and driver[b][1] == 0b10:      # a buffer, or Q = IQ
                b = driver[b][0][0]
            if b in state:
                self.values[b] = value
        self.toggles = np.zeros(self.size, dtype=np.int64)
        self._last = np.zeros_like(self.values)

    def _levelize(self, nodes, sources):
        level = dict.fromkeys(sources, 0)
        pending = {n[0]: n for n in nodes}
        users = {}
        for n in nodes:
            for b in set(n[1]):
                users.setdefault(b, []).append(n[0])
        missing = {n[0]: len({b for b in n[1] if b not in level}) for n in nodes}
        ready = [o for o, k in missing.items() if k == 0]
        while ready:
            nxt = []
            for o in ready:
                level[o] = 1 + max((level[b] for b in pending[o][1]), default=0)
                for u in users.get(o, ()):
                    missing[u] -= 1
                    if missing[u] == 0:
                        nxt.append(u)
            ready = nxt
        loop = [o for o in pending if o not in level]
        if loop:
            raise GateSimError(f"{self.netlist.top}: {len(loop)} cell outputs are on combinational loops")
        self.levels = []
        by_level = {}
        for o, ins, table in nodes:
            by_level.setdefault(level[o], []).append((o, ins, table))
        for lv in sorted(by_level):
            group = by_level[lv]
            k = max(len(ins) for _, ins, _ in group)
            ins = np.zeros((k, len(group)), dtype=np.int64)
            for j, (_, i, _) in enumerate(group):
                ins[:len(i), j] = i
            self.levels.append((np.array([o for o, _, _ in group], dtype=np.int64), ins,
                                np.array([t for _, _, t in group], dtype=np.uint64),
                                (1 << np.arange(k, dtype=np.uint64))[:, None]))

    def set(self, port, value):
        """Drive an input port with an int (or, for wide ports, a uint8 bit array LSB first)."""
        bits = self.inputs[port]
        if isinstance(value, np.ndarray):
            self.values[bits] = value[:len(bits)]
        elif len(bits) == 1:
            self.values[bits[0]] = value & 1
        else:
            self.values[bits] = (value >> np.arange(len(bits), dtype=object)).astype(np.int64) & 1

    def get(self, port):
        bits = self.values[self.outputs[port]]
        return int(bits[0]) if len(bits) == 1 else int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")

    def settle(self, count=True, from_zero=False):
        """Evaluate every combinational output; count the bits that changed since the last
        settle (``from_zero``: since all were 0)."""
        if from_zero:
            self._last[:] = 0
        v = self.values
        for outs, ins, tables, weights in self.levels:
            idx = (v[ins].astype(np.uint64) * weights).sum(axis=0, dtype=np.uint64)
            v[outs] = (tables >> idx) & np.uint64(1)
        if count:
            self.toggles += v != self._last
        self._last = v.copy()

    def clock_edge(self):
        """A rising clock edge: every flip-flop takes its next state."""
        self.values[self.flop_q] = self.values[self.flop_next]


INPUTS = ("registered", "bench")     # when the inputs change: see run_engine


def run_engine(sim, stim, *, seed, gap=0.0, inputs="bench"):
    """The engine bench of :func:`flashd.verif.attention_bench.drive_engine` on a
    :class:`GateSim`: reset for two cycles, then the stimulus's pairs streamed (honouring
    ``ready``; offers from ``seed`` and ``gap`` as the cocotb driver draws them), every output
    row recorded and checked bit for bit and at the stated latency. Returns ``(report line,
    failures, rising edges simulated)``; the activity is in ``sim.toggles``.

    ``inputs``: ``"bench"`` changes the inputs at the falling edge, as the cocotb bench does
    (so Verilator's SAIF counts the same changes); ``"registered"`` changes them at the rising
    edge with the flip-flops, as registers on the same clock would, and counts one settled
    state per cycle: the half-cycle state (new flip-flops, old inputs) is not counted. The
    results are the same; each net's count can only be lower."""
    if inputs not in INPUTS:
        raise ValueError(f"inputs {inputs!r}: one of {', '.join(INPUTS)}")
    registered = inputs == "registered"
    from flashd.verif.attention_bench import _check_rows, schedule
    payloads = [int(x) for x in stim["payloads"]]
    expected = [int(x) for x in stim["expected"]]
    width = len(sim.inputs["i__payload"])
    nbytes = (width + 7) // 8
    bits = np.unpackbits(np.frombuffer(b"".join(x.to_bytes(nbytes, "little") for x in payloads), dtype=np.uint8)
                         .reshape(len(payloads), nbytes), axis=1, bitorder="little")[:, :width]
    (offers,), limit, tail = schedule([stim], seed, gap)
    sim.set("rst", 1)
    sim.set("i__valid", 0)
    sim.settle(count=False)     # the power-up values: the clock starts high at time 0, a rising edge
    sim.clock_edge()
    sim.settle(from_zero=True)  # as in Verilator's SAIF: the first values count as changes from 0
    sim.clock_edge()            # the rising edge inside the two reset cycles
    sim.settle()
    edges = 2
    sim.set("rst", 0)
    accepted, seen, valid, stalls = [], [], 0, 0
    cycle, left = 0, None
    while left is None or left > 0:
        if cycle >= limit and len(accepted) < len(payloads):
            raise AssertionError(f"items not accepted after {cycle} cycles: {len(payloads) - len(accepted)} "
                                 "(ready stuck low?)")
        nxt = len(accepted)
        offer = nxt < len(payloads) and bool(offers[cycle % len(offers)])
        if offer != valid:
            sim.set("i__valid", int(offer))
            valid = offer
        if offer:
            sim.set("i__payload", bits[nxt])
        sim.settle()
        if offer:
            if sim.get("i__ready"):
                accepted.append(cycle)
            else:
                stalls += 1
        if sim.get("o__valid"):
            seen.append((cycle, sim.get("o__payload")))
        sim.clock_edge()
        if not registered:      # else the next cycle's settle sees the flip-flops and the inputs change together
            sim.settle()
        edges += 1
        cycle += 1
        if left is None and len(accepted) == len(payloads):
            left = tail
        elif left is not None:
            left -= 1
    if registered:
        sim.settle()
    fails = _check_rows(stim, expected, seen, accepted, cycle)
    line = (f"{len(expected)} rows, {len(payloads)} pairs, {cycle} cycles, {stalls} stalled offers, "
            f"{'FAIL' if fails else 'ok'}")
    return line, fails, edges
