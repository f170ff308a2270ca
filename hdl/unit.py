"""A unit of hardware named by its class and arguments, and a stand-in for its netlist.

Engines list their functional units as :class:`Unit` objects and operators their repeated
pieces (the d product terms of a dot product); synthesis makes each distinct one once and
instantiates it through a :class:`StandIn`.
"""

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

__all__ = ["Unit", "StandIn"]


@dataclass(frozen=True)
class Unit:
    """An operator to build: its class and arguments. Hashable, so units built with the same
    parameters (the d identical lanes) compare equal without building anything."""
    cls: type
    args: tuple = ()
    kwargs: tuple = ()

    def build(self):
        return self.cls(*self.args, **dict(self.kwargs))

    @property
    def latency(self):
        """The latency the built unit will have (its class's ``latency_of``), building nothing."""
        return self.cls.latency_of(*self.args, **dict(self.kwargs))

    @property
    def parts(self):
        """``{Unit: count}``: the repeated pieces the unit is built from (its ``part_builder``
        makes each; its class's ``parts_of``, nothing built), or ``{}`` for a unit synthesized
        whole. Synthesis makes each piece once."""
        parts_of = getattr(self.cls, "parts_of", None)
        return parts_of(*self.args, **dict(self.kwargs)) if parts_of else {}


class StandIn(wiring.Component):
    """A unit's ports around an instance of module ``module``: ``component``'s signature and
    latency, no logic. The Verilog of an engine built with stand-ins (``unit_builder``) has
    each unit as an instance whose ports are named as in the unit's own Verilog
    (``i__payload``, ``o__valid``, ...; in a whole design Amaranth names a child's ports
    after its internal signals). ``ports`` lists the module's ports: ``clk`` and ``rst``
    are connected when it has them."""

    def __init__(self, component, module, ports):
        self.module, self.latency, self._ports = module, component.latency, tuple(ports)
        super().__init__(component.signature)

    def elaborate(self, platform):
        m = Module()
        conns = {}
        for path, member, value in self.signature.flatten(self):
            name = "__".join(map(str, path))
            if name not in self._ports:
                raise ValueError(f"{self.module}: no port {name!r} (ports: {', '.join(self._ports)})")
            conns[("i_" if member.flow == In else "o_") + name] = value
        if "clk" in self._ports:
            conns["i_clk"] = ClockSignal()
        if "rst" in self._ports:
            conns["i_rst"] = ResetSignal()
        m.submodules.unit = Instance(self.module, **conns)
        return m
