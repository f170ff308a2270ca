"""The stimulus and checking sides every cocotb bench shares (as in cocotb's
``matrix_multiplier`` example): a clock-and-reset prologue, a driver that streams items into
valid(/ready) input ports, and a monitor that records every valid output.

Cycle 0 is the first cycle after reset. Both the driver and the monitor act once per cycle
between falling edges: the driver sets its inputs after a falling edge, both read at
``ReadOnly`` (so a combinational unit's output is seen in its input's cycle), and an item
counts as accepted in a cycle where its port's ``valid`` and ``ready`` (if any) are high.
One driver and one monitor serve any number of ports, so a harness of twenty operators
costs two coroutines, not forty.
"""

from dataclasses import dataclass

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

__all__ = ["InPort", "OutPort", "start", "StreamDriver", "Monitor"]

log = cocotb.log


@dataclass
class InPort:
    """An input stream: its ``valid`` and ``payload`` handles, and ``ready`` if it has one."""
    name: str
    valid: object
    payload: object
    ready: object = None


@dataclass
class OutPort:
    """An output stream: its ``valid`` and ``payload`` handles."""
    name: str
    valid: object
    payload: object


async def start(dut, inputs, reset_cycles=2):
    """Start a 10 ns clock on ``dut.clk`` and hold ``dut.rst`` for ``reset_cycles`` cycles
    with every input's valid low. Reset first: Icarus leaves an output-port register
    undefined until its first write, whatever its initializer says, and real hardware resets
    its valid bits anyway."""
    dut.rst.value = 1
    for port in inputs:
        port.valid.value = 0
    Clock(dut.clk, 10, unit="ns").start()
    for _ in range(reset_cycles):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


class StreamDriver:
    """Streams ``items[k]`` (payload integers) into ``ports[k]``, offering the next item in
    cycle c when ``offers[k][c % len(offers[k])]``; records each item's acceptance cycle in
    ``accepted[k]`` and counts offers refused by ``ready`` in ``stalls[k]``. After ``limit``
    cycles with items left it fails (a ``ready`` stuck low)."""

    def __init__(self, clk, ports, items, offers, limit=None):
        self.clk, self.ports, self.items, self.offers = clk, ports, [list(x) for x in items], offers
        self.limit = limit
        self.accepted = [[] for _ in ports]
        self.stalls = [0 for _ in ports]
        self.cycles = 0

    @property
    def done(self):
        return all(len(a) == len(x) for a, x in zip(self.accepted, self.items, strict=True))

    async def run(self):
        cycle = 0
        while not self.done:
            if self.limit is not None and cycle >= self.limit:
                left = {p.name: len(x) - len(a) for p, x, a in zip(self.ports, self.items, self.accepted, strict=True)}
                raise AssertionError(f"items not accepted after {cycle} cycles: {left} (ready stuck low?)")
            offered = []
            for k, port in enumerate(self.ports):
                nxt = len(self.accepted[k])
                offer = nxt < len(self.items[k]) and bool(self.offers[k][cycle % len(self.offers[k])])
                port.valid.value = int(offer)
                if offer:
                    port.payload.value = self.items[k][nxt]
                offered.append(offer)
            await ReadOnly()
            for k, port in enumerate(self.ports):
                if offered[k]:
                    if port.ready is None or int(port.ready.value):
                        self.accepted[k].append(cycle)
                    else:
                        self.stalls[k] += 1
            await FallingEdge(self.clk)
            cycle += 1
        for port in self.ports:
            port.valid.value = 0
        self.cycles = cycle


class Monitor:
    """Records ``(cycle, payload)`` of every cycle with ``valid`` high on each of ``ports``
    (``seen[k]``); a ``valid`` that is neither 0 nor 1 (X, Z) fails at once."""

    def __init__(self, clk, ports):
        self.clk, self.ports = clk, ports
        self.seen = [[] for _ in ports]
        self.cycle = 0

    async def run(self):
        while True:
            await ReadOnly()
            for k, port in enumerate(self.ports):
                v = str(port.valid.value)
                if v not in "01":
                    raise AssertionError(f"{port.name}: o.valid is {v} at cycle {self.cycle}")
                if v == "1":
                    self.seen[k].append((self.cycle, port.payload.value.to_unsigned()))
            await FallingEdge(self.clk)
            self.cycle += 1

    async def cycles(self, n):
        """Wait ``n`` more cycles (e.g. a pipeline's latency after the last input)."""
        for _ in range(n):
            await FallingEdge(self.clk)
