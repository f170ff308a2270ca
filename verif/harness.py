"""A test top-level holding several operators side by side, and its JSON description.

One simulator build then covers every operator of a format, which keeps Verilator's
compile time (the slow part of a regression) to one build per format and stage count.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

from flashd.hdl.format import as_format
from flashd.hdl.nonlinear import NONLINEAR
from flashd.hdl.ops import OPERATORS

UNITS = {**OPERATORS, **NONLINEAR}

__all__ = ["make_unit", "Harness", "describe_fields"]


def make_unit(spec):
    """Build the operator a spec dict names: ``{"op": "add", "fmt": "bf16", "stages": 1, ...}``."""
    params = {k: v for k, v in spec.items() if k not in ("op", "name")}
    if spec.get("op") not in UNITS:
        raise ValueError(f"op={spec.get('op')!r} is not an operator (allowed: {', '.join(UNITS)})")
    return UNITS[spec["op"]](**params)


def describe_fields(shape):
    """``{field: [offset, elem_width, count]}`` of a payload; a bare float is one field ``out``."""
    if not isinstance(shape, data.StructLayout) or "man" in dict(shape):
        return {"out": [0, data.Layout.cast(shape).size if not isinstance(shape, int) else shape, 1]}
    fields = {}
    for name, field in shape:
        s = field.shape
        if isinstance(s, data.ArrayLayout):
            fields[name] = [field.offset, data.Layout.cast(s.elem_shape).size, s.length]
        else:
            fields[name] = [field.offset, field.width, 1]
    return fields


class Harness(wiring.Component):
    """Exposes each unit's ``i``/``o`` as ``<name>__i__*``/``<name>__o__*`` ports.

    A free-running ``cycle`` counter keeps a clock port even when every unit is
    combinational.
    """

    def __init__(self, specs):
        self.specs = [dict(s) for s in specs]
        self.units = {s["name"]: make_unit(s) for s in self.specs}
        super().__init__({**{n: Out(u.signature) for n, u in self.units.items()},
                          "cycle": Out(16)})

    def description(self):
        out = []
        for s in self.specs:
            u = self.units[s["name"]]
            out.append({**s, "latency": u.latency,
                        "inputs": describe_fields(u.i.payload.shape()),
                        "outputs": describe_fields(u.o.payload.shape())})
        return out

    def elaborate(self, platform):
        m = Module()
        for name, unit in self.units.items():
            m.submodules[name] = unit
            wiring.connect(m, wiring.flipped(getattr(self, name)), unit)
        m.d.sync += self.cycle.eq(self.cycle + 1)
        return m
