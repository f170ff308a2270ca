"""Area (and, at a clock, timing) reports of one engine, and of single operators.

``flashd synth`` reports one design; the sweeps over designs, sizes, formats and clocks are
:mod:`flashd.synth.sweep`.
"""

import re
from pathlib import Path

from flashd.hdl.emit import verilog_text
from flashd.verif.designs import design
from flashd.verif.registry import OpSpec

from .flow import BOX_PREFIX, synth_design, synth_module, synth_root
from .pdk import library as default_library
from .sta import run_sta, unit_slacks

__all__ = ["engine_report", "operator_report", "operator_markdown", "recurrence_states", "markdown", "timing_text", "PAPER_REDUCTION", "PAPER_POWER_REDUCTION",
           "operator_table", "FLOPOCO"]

# FloPoCo's operators, generic-gate cell counts (../shared/notes/background.md)
FLOPOCO = {("add", "bf16"): 442, ("add", "fp16"): 453, ("add", "fp32"): 996,
           ("mul", "bf16"): 432, ("mul", "fp16"): 744, ("mul", "fp32"): 3549,
           ("exp", "bf16"): 1685, ("exp", "fp16"): 2507, ("exp", "fp32"): 7524}

PAPER_REDUCTION = -22.8        # % area, FLASH-D vs parallel FA2, 28 nm, average (arXiv 2505.14201)
PAPER_POWER_REDUCTION = -20.3  # % power, same designs, inputs from real models

def engine_report(name, *, library=None, mode="cells", clock_ns=None, progress=None, jobs=None, unit_timing=False,
                  **params):
    """Synthesize one engine (design ``name``); returns a JSON-able dict: ``area`` (in
    ``area_unit``), ``cells``, ``flops``, per-unit ``units``, the functional-unit ``breakdown``,
    depth, and with a clock (``clock_ns``, a library with timing) ``timing`` from OpenSTA on the
    whole netlist: worst slack, critical path and fmax, and the worst path around each
    loop-carried recurrence. ``jobs``: Yosys runs at once (:func:`flashd.synth.flow.synth_jobs`).
    ``unit_timing``: also each unit's own worst path (``delay_ns`` in its rows; OpenSTA on the
    unit's netlist alone, one session for all)."""
    dsg = design(name)
    params = dsg.parameters(**params)
    p = params.as_dict()
    top = "_".join(["e", dsg.name, p["fmt"], f"d{p['d']}"])
    lib = library or default_library()
    r = synth_design(params, top, library=lib, mode=mode, clock_ns=clock_ns, progress=progress, jobs=jobs)
    depth = {re.sub(r"\d+$", "", u["instance"]): u["depth"] for u in r.units}
    loops = [sum(depth[x] for x in rec.units) for rec in dsg.recurrences(params) if all(x in depth for x in rec.units)]
    out = {"design": dsg.name, "top": top, "parameters": p, "library": lib.as_dict() if mode == "cells" else None,
           "area_unit": r.area_unit, "area": round(r.total, 1), "cells": r.cells,
           "flops": r.flops, "flop_area": round(r.flop_area, 1), "depth": r.depth,
           "loop_depth": max(loops) if loops else 0,
           "breakdown": {k: round(v, 1) for k, v in sorted(r.groups.items(), key=lambda kv: -kv[1])},
           "units": r.units, "seconds": r.seconds, "cached_units": r.cached, "synthesized_units": r.synthesized,
           "latency": dsg.latency(params), "throughput": params.throughput, "netlist": r.netlist, "timing": None}
    if clock_ns is not None:
        t = run_sta(r.netlist, top, lib, clock_ns, loops=recurrence_states(params))
        out["timing"] = t.as_dict()
        out["seconds"] = round(out["seconds"] + (0 if t.cached else t.seconds), 1)
        if unit_timing:
            _unit_delays(r.units, lib, clock_ns)
    return out


def operator_report(spec, *, library=None, mode="cells", clock_ns=None):
    """One operator (an :class:`~flashd.verif.registry.OpSpec`) synthesized alone with ABC's
    full script (as the operator tables), the fields of :func:`engine_report` that apply:
    ``area``, ``cells``, ``flops``, ``depth``, ``latency`` and at a clock ``timing`` (a
    combinational operator is timed from its inputs to its outputs)."""
    if not isinstance(spec, OpSpec):
        raise TypeError(f"spec {spec!r}: an OpSpec")
    lib = library or default_library()
    top = spec.module_name
    r = synth_module(verilog_text(spec.build(), top), top, library=lib, mode=mode, effort="full", clock_ns=clock_ns,
                     label=top)
    out = {"design": spec.op, "top": top, "parameters": spec.as_dict(), "library": lib.as_dict() if mode == "cells" else None,
           "area_unit": lib.area_unit if mode == "cells" else "cells", "area": round(r.area if mode == "cells" else r.cells, 1),
           "cells": r.cells, "flops": r.flops, "flop_area": round(r.flop_area, 1), "depth": r.depth,
           "latency": spec.stages, "netlist": r.netlist, "seconds": r.seconds, "timing": None}
    if clock_ns is not None:
        t = run_sta(r.netlist, "u_" + Path(r.netlist).stem, lib, clock_ns, clocked="clk" in r.ports)
        out["timing"] = t.as_dict()
    return out


def operator_markdown(report):
    """One operator's report: a line, and the timing lines at a clock."""
    u, q = report["area_unit"], report["parameters"]
    lines = [f"{report['top']} ({report['design']} {q.get('fmt') or q['fmt_in']}, stages {q['stages']}): {report['area']:.0f} {u}, "
             f"{report['cells']} cells, {report['flops']} flip-flops, depth {report['depth']} cells, "
             f"latency {report['latency']} cycles"]
    if report.get("timing"):
        lines += ["", timing_text(report)]
    return "\n".join(lines)


def _unit_delays(rows, lib, clock_ns):
    """Each unit row's ``delay_ns``: its netlist's worst path alone at ``clock_ns`` (None: no path)."""
    def module(row):
        return BOX_PREFIX + Path(row["netlist"]).stem
    units = {module(u): (u["netlist"], u["clocked"]) for u in rows if u.get("netlist")}
    slacks = unit_slacks(units, lib, clock_ns, synth_root() / "units_sta")
    for u in rows:
        if u.get("netlist"):
            s = slacks[module(u)]
            u["delay_ns"] = None if s is None else round(clock_ns - s, 3)


def recurrence_states(params):
    """``{loop: state register names}`` of an engine's loop-carried recurrences (its descriptor's)."""
    return {r.name: r.states for r in design(params.design).recurrences(params)}


def markdown(report):
    """One design's report as a Markdown table."""
    u = report["area_unit"]
    timed = any("delay_ns" in x for x in report["units"])
    lines = [f"{report['design']} {report['parameters']['fmt']} d={report['parameters']['d']}: "
             f"{report['area']:.0f} {u}, {report['flops']} flip-flops ({report['flop_area']:.0f} {u}), "
             f"depth {report['depth']} cells (loop {report['loop_depth']}), {report['seconds']} s",
             "", f"| unit | count | area each ({u}) | area ({u}) | flip-flops | depth |" + (" delay alone (ns) |" if timed else ""),
             "|---|---|---|---|---|---|" + ("---|" if timed else "")]
    seen = {}
    for x in report["units"]:
        key = re.sub(r"\d+$", "", x["instance"])
        s = seen.setdefault(key, {**x, "count": 0, "total": 0.0, "ff": 0})
        s["count"] += 1
        s["total"] += x["area"]
        s["ff"] += x["flops"]
    for key, s in sorted(seen.items(), key=lambda kv: -kv[1]["total"]):
        delay = s.get("delay_ns")
        lines.append(f"| {key} ({s['category']}) | {s['count']} | {s['area']:.0f} | {s['total']:.0f} | {s['ff']} | {s['depth']} |"
                     + ((" - |" if delay is None else f" {delay:.2f} |") if timed else ""))
    if report.get("timing"):
        lines += ["", timing_text(report)]
    return "\n".join(lines)


def timing_text(report):
    """The timing lines of one design's report (OpenSTA, pre-placement)."""
    t, lib = report["timing"], report["library"]
    cp = t["critical_path"]
    lines = [f"Timing at {t['clock_ns']} ns ({lib['name']}; OpenSTA before placement, wire-load model "
             f"{t['wire_load'] or 'none'}, ideal clock): worst slack {t['wns_ns']:+.3f} ns "
             f"({'met' if t['met'] else 'VIOLATED'}), critical path {t['critical_ns']:.3f} ns, fmax {t['fmax_mhz']:.1f} MHz",
             f"  critical path: {cp['start']} -> {cp['end']}, arrival {cp['delay_ns']:.3f} ns, through "
             f"{' > '.join(cp['units'])}"]
    for name, p in t["loops"].items():
        lines.append(f"  loop {name}: " + ("no path" if p is None else
                     f"{p['critical_ns']:.3f} ns (slack {p['slack_ns']:+.3f}), through {' > '.join(p['units'])}"))
    return "\n".join(lines)


def operator_table(fmts, ops=("add", "mul", "exp"), library=None, progress=print):
    """Markdown table of single operators (combinational): generic cells with the reference
    flow (``synth -flatten; abc -g ...``, as FloPoCo's figures), and area in the library."""
    unit = (library or default_library()).area_unit
    lines = [f"| operator | format | generic cells | FloPoCo cells | ours / FloPoCo | area ({unit}) | depth |",
             "|---|---|---|---|---|---|---|"]
    for fmt in fmts:
        for op in ops:
            text = verilog_text(OpSpec(op=op, fmt=fmt).build(), op)
            g = synth_module(text, op, mode="generic", effort="full")
            c = synth_module(text, op, mode="cells", effort="full", library=library)
            ref = FLOPOCO.get((op, fmt))
            progress(f"  {op} {fmt}: {g.cells} cells, {c.area:.0f} {unit} ({g.seconds + c.seconds:.1f} s)")
            lines.append(f"| {op} | {fmt} | {g.cells} | {ref or '-'} | "
                         f"{f'{g.cells / ref:.2f}' if ref else '-'} | {c.area:.0f} | {c.depth} |")
    return "\n".join(lines)
