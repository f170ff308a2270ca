"""The one place that turns an Amaranth design into Verilog and its JSON sidecar: the command
line, the simulators and the synthesis flow all call :func:`verilog_text` or
:func:`write_verilog`; :func:`engine_sidecar` and :func:`operator_sidecar` describe the ports."""

import json
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import data

__all__ = ["verilog_text", "write_verilog", "write_text", "describe_fields", "engine_sidecar", "operator_sidecar"]

FIELD_FORMAT = "{name: [bit offset, element width, element count]}"


def verilog_text(component, name):
    """``component`` as Verilog text whose top module is ``name`` (no source locations, so
    the text depends on the design alone)."""
    return verilog.convert(component, name=name, emit_src=False)


def write_text(text, name, out_dir, sidecar=None):
    """Write Verilog ``text`` as ``name.v`` (and ``name.json`` from ``sidecar``) into ``out_dir``;
    return the .v path. ``out_dir`` must be a directory (created when missing)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"output directory {out_dir} is a file")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    path.write_text(text)
    if sidecar is not None:
        (out_dir / f"{name}.json").write_text(json.dumps(sidecar, indent=1))
    return path


def write_verilog(component, name, out_dir, sidecar=None):
    """``component``'s Verilog as ``name.v`` (and ``name.json`` from ``sidecar``) in ``out_dir``."""
    return write_text(verilog_text(component, name), name, out_dir, sidecar)


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


def engine_sidecar(engine, name):
    """What a user of the engine's Verilog module ``name`` needs: parameters, latency,
    throughput and the port fields."""
    p = engine.params
    return {
        "module": name, "parameters": p.as_dict(), "latency_cycles": engine.latency,
        "latency": "cycles from the acceptance of a row's last (k, v) pair to that row's o.valid",
        "throughput": f"{p.throughput} (k, v) pair per cycle; {p.interleave} row(s) interleaved round-robin",
        "ports": {"clk": "clock", "rst": "synchronous reset",
                  "i__payload": describe_fields(engine.i.payload.shape()), "i__valid": 1, "i__ready": 1,
                  "o__payload": describe_fields(engine.o.payload.shape()), "o__valid": 1},
        "field_format": FIELD_FORMAT,
    }


def operator_sidecar(unit, name, parameters):
    """The same for an operator ``unit`` (``parameters``: its resolved parameters)."""
    return {
        "module": name, "parameters": parameters, "latency_cycles": unit.latency,
        "throughput": "1 result per cycle",
        "ports": {"clk": "clock (present when latency > 0)", "rst": "synchronous reset of the valid bits",
                  "i__payload": describe_fields(unit.i.payload.shape()), "i__valid": 1,
                  "o__payload": describe_fields(unit.o.payload.shape()), "o__valid": 1},
        "field_format": FIELD_FORMAT,
    }
