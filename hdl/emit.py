"""The one place that turns an Amaranth design into Verilog: the command line, the
simulators and the synthesis flow all call :func:`verilog_text` or :func:`write_verilog`."""

import json
from pathlib import Path

from amaranth.back import verilog

__all__ = ["verilog_text", "write_verilog"]


def verilog_text(component, name):
    """``component`` as Verilog text whose top module is ``name`` (no source locations, so
    the text depends on the design alone)."""
    return verilog.convert(component, name=name, emit_src=False)


def write_verilog(component, name, out_dir, sidecar=None, text=None):
    """Write ``name.v`` (and ``name.json`` from ``sidecar``) into ``out_dir``; return the .v path.
    ``text``: Verilog already made for ``component`` (a gate-level model of its netlist), written
    instead of elaborating it again."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    if text is None:
        text = verilog_text(component, name)
    else:   # stands for its gate-level model: not elaborated, and Amaranth need not warn it was unused
        component._MustUse__used = True
    path.write_text(text)
    if sidecar is not None:
        (out_dir / f"{name}.json").write_text(json.dumps(sidecar, indent=1))
    return path
