"""The stimulus and checking sides every cocotb bench shares (as in cocotb's
``matrix_multiplier`` example): a clock-and-reset prologue, a driver that streams items into
valid(/ready) input ports, and a monitor that records every valid output.

Cycle 0 is the first cycle after reset. In each cycle the driver sets its inputs after the
falling edge, then both sides read at ``ReadOnly`` (so a combinational unit's output is seen
in its input's cycle); an item counts as accepted in a cycle where its port's ``valid`` and
``ready`` (if any) are high. One driver and one monitor serve any number of ports, and
:func:`run` clocks both in one loop: a harness of twenty operators costs one coroutine and
two triggers per cycle. A port whose stream is over costs nothing per cycle: the driver has set
its valid low, and the monitor, once every expected output came, waits for a rising valid.
"""

from dataclasses import dataclass

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

__all__ = ["InPort", "OutPort", "start", "StreamDriver", "Monitor", "run"]


@dataclass
class InPort:
    """An input stream: its ``valid`` and ``payload`` handles, and ``ready`` if it has one."""
    name: str
    valid: object
    payload: object
    ready: object = None


@dataclass
class OutPort:
    """An output stream: its ``valid`` and ``payload`` handles, and ``ready`` if it has one."""
    name: str
    valid: object
    payload: object
    ready: object = None


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

    def __init__(self, ports, items, offers, limit=None):
        self.ports, self.items, self.offers, self.limit = ports, [list(x) for x in items], offers, limit
        self.accepted = [[] for _ in ports]
        self.stalls = [0 for _ in ports]
        self._offered = [False for _ in ports]
        self._valid = [False for _ in ports]          # as last written (start() set them low)
        self._live = list(range(len(ports)))          # ports with items left

    @property
    def done(self):
        return all(len(a) == len(x) for a, x in zip(self.accepted, self.items, strict=True))

    def offer(self, cycle):
        """Set every port's inputs for ``cycle`` (after its falling edge)."""
        if self.limit is not None and cycle >= self.limit and not self.done:
            left = {p.name: len(x) - len(a) for p, x, a in zip(self.ports, self.items, self.accepted, strict=True)}
            raise AssertionError(f"items not accepted after {cycle} cycles: {left} (ready stuck low?)")
        for k in self._live:
            port, nxt = self.ports[k], len(self.accepted[k])
            offer = nxt < len(self.items[k]) and bool(self.offers[k][cycle % len(self.offers[k])])
            if offer != self._valid[k]:                 # a signal keeps its value: write changes only
                port.valid.value = int(offer)
                self._valid[k] = offer
            if offer:
                port.payload.value = self.items[k][nxt]
            self._offered[k] = offer
        self._live = [k for k in self._live if len(self.accepted[k]) < len(self.items[k]) or self._offered[k]]

    def accept(self, cycle):
        """At ``ReadOnly`` of ``cycle``: the offered items that ``ready`` took."""
        for k in self._live:
            port = self.ports[k]
            if self._offered[k]:
                if port.ready is None or int(port.ready.value):
                    self.accepted[k].append(cycle)
                else:
                    self.stalls[k] += 1


class Monitor:
    """Records ``(cycle, payload)`` of every cycle with ``valid`` high on each of ``ports``
    (``seen[k]``), and ``ready`` high on a port that has one (set in cycle c to
    ``takes[k][c % len(takes[k])]``, else always high); a ``valid`` that is neither 0 nor 1
    (X, Z) fails at once. With ``expected`` (outputs per port), a port that has them all and
    whose valid is low is no longer sampled: a rising valid (an extra output) puts it back, so
    that output is recorded in its cycle."""

    def __init__(self, ports, expected=None, takes=None):
        self.ports, self.expected = ports, expected
        self.takes = takes or [None] * len(ports)
        self.seen = [[] for _ in ports]
        self._sampled = list(range(len(ports)))
        self._ready = [True] * len(ports)
        self._driven = [k for k, port in enumerate(ports) if port.ready is not None]

    def drive(self, cycle):
        """Set each ready for ``cycle`` (after its falling edge)."""
        for k in self._driven:
            take = self.takes[k] is None or bool(self.takes[k][cycle % len(self.takes[k])])
            if take != self._ready[k] or cycle == 0:
                self.ports[k].ready.value = int(take)
                self._ready[k] = take

    def sample(self, cycle):
        """At ``ReadOnly`` of ``cycle``."""
        done = []
        for k in self._sampled:
            port = self.ports[k]
            v = str(port.valid.value)
            if v not in "01":
                raise AssertionError(f"{port.name}: o.valid is {v} at cycle {cycle}")
            if v == "1" and self._ready[k]:
                self.seen[k].append((cycle, port.payload.value.to_unsigned()))
            elif self.expected is not None and len(self.seen[k]) >= self.expected[k]:
                done.append(k)
        for k in done:
            self._sampled.remove(k)
            cocotb.start_soon(self._watch(k))

    async def _watch(self, k):
        await RisingEdge(self.ports[k].valid)
        self._sampled.append(k)


async def run(clk, driver, monitor, tail):
    """Clock the stimulus side and the checking side in one loop (one ``ReadOnly`` and one
    falling edge per cycle, whatever the number of ports) until every item is accepted and
    ``tail`` cycles more have passed (a pipeline's latency, and a margin in which nothing
    more may come out). Returns the number of cycles."""
    cycle, left = 0, None
    while left is None or left > 0:
        driver.offer(cycle)
        monitor.drive(cycle)
        await ReadOnly()
        driver.accept(cycle)
        monitor.sample(cycle)
        await FallingEdge(clk)
        cycle += 1
        if left is None and driver.done:
            left = tail
        elif left is not None:
            left -= 1
    return cycle
