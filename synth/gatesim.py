"""Switching activity without a simulator build: a zero-delay, cycle-based simulation of the
flat mapped netlist itself (the one OpenSTA reports power for), every cell's logic taken from
its Liberty ``function`` (a truth table per output pin) and its ``ff`` group, evaluated level
by level with numpy (the cells from :func:`flashd.synth.liberty.cell_logic`, the netlist from
:func:`flashd.synth.netlist.read_netlist`). It counts each net's value changes between
evaluations; the engine bench that drives it (:mod:`flashd.synth.netbench`) sets the inputs
at the falling edge as the cocotb bench does, or with the flip-flops (register-fed).

Why: the Verilator build of a d = 64 gate-level model took 8 of a power run's 12 minutes (the
C++ of 200,000 cells, half of it trace code); here there is nothing to build. What is not
supported (latches, ``statetable`` cells, asynchronous clear/preset) is refused by cell name.
"""

import numpy as np

from .liberty import cell_logic

__all__ = ["GateSimError", "GateSim"]


class GateSimError(ValueError):
    """A netlist or cell this simulator cannot model."""


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
