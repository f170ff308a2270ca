"""A test top-level holding several operators side by side, and its JSON description.

One simulator build then covers many operators (or engines): Verilator's compile, the slow
part of a regression, is paid once.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from flashd.hdl.emit import describe_fields

from .registry import OpSpec

__all__ = ["SideBySide", "Harness"]


class SideBySide(wiring.Component):
    """Exposes each component's ``i``/``o`` as ``<name>__i__*``/``<name>__o__*`` ports.

    Parameters
    ----------
    units : dict
        ``{port name: component}`` (each with ``i`` and ``o`` streams).

    A free-running ``cycle`` counter keeps a clock port even when every unit is
    combinational.
    """

    def __init__(self, units):
        self.units = dict(units)
        super().__init__({**{n: Out(u.signature) for n, u in self.units.items()}, "cycle": Out(16)})

    def elaborate(self, platform):
        m = Module()
        for name, unit in self.units.items():
            m.submodules[name] = unit
            wiring.connect(m, wiring.flipped(getattr(self, name)), unit)
        m.d.sync += self.cycle.eq(self.cycle + 1)
        return m


class Harness(SideBySide):
    """The operators of ``specs`` (``{port name: OpSpec}``) side by side."""

    def __init__(self, specs):
        for name, spec in specs.items():
            if not isinstance(spec, OpSpec):
                raise TypeError(f"specs[{name!r}] must be an OpSpec, not {spec!r}")
        self.specs = dict(specs)
        super().__init__({name: spec.build() for name, spec in self.specs.items()})

    def description(self):
        """What the cocotb side needs: each unit's parameters, latency and field layout."""
        return [{"name": name, **spec.as_dict(), "latency": spec.latency,
                 "inputs": describe_fields(self.units[name].i.payload.shape()),
                 "outputs": describe_fields(self.units[name].o.payload.shape())}
                for name, spec in self.specs.items()]
