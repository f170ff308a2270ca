"""Area reports of the engines and the FLASH-D vs FlashAttention-2 comparison sweep.

``flashd synth`` reports one design; ``flashd compare`` sweeps d x formats, synthesizes both
engines (cached per unit) and writes a Markdown table, CSV, JSON and a PNG plot.
"""

import csv
import json
import re
import time
from pathlib import Path

from flashd.hdl.emit import verilog_text
from flashd.hdl.params import engine_params

from .flow import synth_design
from .pdk import library as default_library
from .sta import run_sta

__all__ = ["CATEGORIES", "category", "engine_report", "compare", "PAPER_REDUCTION", "operator_table", "FLOPOCO"]

# FloPoCo's operators, generic-gate cell counts (../shared/notes/background.md)
FLOPOCO = {("add", "bf16"): 442, ("add", "fp16"): 453, ("add", "fp32"): 996,
           ("mul", "bf16"): 432, ("mul", "fp16"): 744, ("mul", "fp32"): 3549,
           ("exp", "bf16"): 1685, ("exp", "fp16"): 2507, ("exp", "fp32"): 7524}

PAPER_REDUCTION = -22.8        # % area, FLASH-D vs parallel FA2, 28 nm, average (arXiv 2505.14201)
PAPER_POWER_REDUCTION = -20.3  # % power, same designs, inputs from real models

# instance name (digits stripped) -> functional unit
CATEGORIES = {
    "dot": "dot product",
    "max": "softmax / weight path", "sub_c": "softmax / weight path", "sub_e": "softmax / weight path",
    "exp_c": "softmax / weight path", "exp_e": "softmax / weight path", "l_fma": "softmax / weight path",
    "sub_dx": "softmax / weight path", "add_a": "softmax / weight path", "lsig": "softmax / weight path",
    "exp_w": "softmax / weight path", "cmp_skip": "softmax / weight path", "cmp_copy": "softmax / weight path",
    "ln_w": "softmax / weight path", "sig": "softmax / weight path", "one_minus_w": "softmax / weight path",
    "c_cvt": "softmax / weight path", "e_cvt": "softmax / weight path", "w_cvt": "softmax / weight path",
    "ve": "output update lanes", "o_fma": "output update lanes", "diff": "output update lanes",
    "wv": "output update lanes", "v_cvt": "output update lanes",
    "recip": "normalization", "norm": "normalization", "r_cvt": "normalization", "out_cvt": "normalization",
}
# the loop-carried recurrences: units in series around each loop (P = 1)
LOOPS = {"fa2": [["max"], ["l_fma"], ["o_fma"]],
         "flashd": [["add_a", "lsig"], ["ln_w", "add_a", "sig"], ["diff", "o_fma"], ["o_fma"]]}


def category(instance):
    return CATEGORIES.get(re.sub(r"\d+$", "", instance), "other")


def engine_report(design, *, library=None, mode="cells", clock_ns=None, progress=None, **params):
    """Synthesize one engine; returns a JSON-able dict: ``area`` (in ``area_unit``), ``cells``,
    ``flops``, per-unit ``units``, the functional-unit ``breakdown``, depth, and with a clock
    (``clock_ns``, a library with timing) ``timing`` from OpenSTA on the whole netlist:
    worst slack, critical path and fmax, and the worst path around each loop-carried recurrence."""
    params = engine_params(design, **params)
    p = params.as_dict()
    name = "_".join(["e", design, p["fmt"], f"d{p['d']}"])
    lib = library or default_library()
    r = synth_design(params, name, category, library=lib, mode=mode, clock_ns=clock_ns, progress=progress)
    depth = {re.sub(r"\d+$", "", u["instance"]): u["depth"] for u in r.units}
    loops = [sum(depth[x] for x in loop) for loop in LOOPS[design] if all(x in depth for x in loop)]
    out = {"design": design, "top": name, "parameters": p, "library": lib.as_dict() if mode == "cells" else None,
           "area_unit": r.area_unit, "area": round(r.total, 1), "cells": r.cells,
           "flops": r.flops, "flop_area": round(r.flop_area, 1), "depth": r.depth,
           "loop_depth": max(loops) if loops else 0,
           "breakdown": {k: round(v, 1) for k, v in sorted(r.groups.items(), key=lambda kv: -kv[1])},
           "units": r.units, "seconds": r.seconds, "cached_units": r.cached, "synthesized_units": r.synthesized,
           "latency": params.latency, "throughput": params.throughput, "netlist": r.netlist, "timing": None}
    if clock_ns is not None:
        t = run_sta(r.netlist, name, lib, clock_ns, loops=loop_states(params))
        out["timing"] = t.as_dict()
        out["seconds"] = round(out["seconds"] + (0 if t.cached else t.seconds), 1)
    return out


def loop_states(params):
    """``{loop: state register names}`` of an engine's loop-carried recurrences (the ``Loop``
    names in :mod:`flashd.hdl.attention`). FLASH-D's output is its lane state, so Yosys may
    name those flip-flops after the output port instead."""
    if params.design == "fa2":
        return {"running max m": ("m_state",), "sum l": ("l_state",), "lanes o": ("o_state",)}
    weight = {"exact": ("weight ln w", "lw_state"), "published": ("weight w", "w_state")}[params.saturation]
    return {weight[0]: (weight[1],), "lanes o": ("o_state", "o__payload")}


def markdown(report):
    """One design's report as a Markdown table."""
    u = report["area_unit"]
    lines = [f"{report['design']} {report['parameters']['fmt']} d={report['parameters']['d']}: "
             f"{report['area']:.0f} {u}, {report['flops']} flip-flops ({report['flop_area']:.0f} {u}), "
             f"depth {report['depth']} cells (loop {report['loop_depth']}), {report['seconds']} s",
             "", f"| unit | count | area each ({u}) | area ({u}) | flip-flops | depth |", "|---|---|---|---|---|---|"]
    seen = {}
    for x in report["units"]:
        key = re.sub(r"\d+$", "", x["instance"])
        s = seen.setdefault(key, {**x, "count": 0, "total": 0.0, "ff": 0})
        s["count"] += 1
        s["total"] += x["area"]
        s["ff"] += x["flops"]
    for key, s in sorted(seen.items(), key=lambda kv: -kv[1]["total"]):
        lines.append(f"| {key} ({s['category']}) | {s['count']} | {s['area']:.0f} | {s['total']:.0f} | {s['ff']} | {s['depth']} |")
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


def _config_rows(fmt, d, library, extra, t0, progress, verbose):
    pair = {}
    for design in ("fa2", "flashd"):
        progress(f"[{time.time() - t0:6.0f} s] {design} {fmt} d={d}")
        pair[design] = r = engine_report(design, d=d, fmt=fmt, library=library, progress=progress if verbose else None,
                                         **(extra or {}))
        progress(f"[{time.time() - t0:6.0f} s] {design} {fmt} d={d}: {r['area']:.0f} {r['area_unit']} in "
                 f"{r['seconds']} s ({r['synthesized_units']} units synthesized, {r['cached_units']} cached)")
    a, b = pair["fa2"], pair["flashd"]
    return {"fmt": fmt, "d": d, "fa2": a["area"], "flashd": b["area"],
            "reduction_pct": round(100 * (b["area"] / a["area"] - 1), 1),
            "fa2_flops": a["flops"], "flashd_flops": b["flops"],
            "fa2_depth": a["depth"], "flashd_depth": b["depth"],
            "fa2_loop_depth": a["loop_depth"], "flashd_loop_depth": b["loop_depth"],
            "fa2_breakdown": a["breakdown"], "flashd_breakdown": b["breakdown"],
            "fa2_seconds": a["seconds"], "flashd_seconds": b["seconds"], "area_unit": a["area_unit"]}


def compare(ds, fmts, *, library=None, out_dir="build/compare", progress=print, extra=None, jobs=1):
    """Sweep both engines over ``ds`` x ``fmts``; write compare.{md,csv,json,png} into
    ``out_dir`` and return the rows. ``jobs`` > 1 runs that many configurations at once
    (processes; Yosys is single-threaded), each printing one line per engine."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    configs = [(fmt, d) for fmt in fmts for d in ds]
    if jobs <= 1:
        rows = [_config_rows(fmt, d, library, extra, t0, progress, True) for fmt, d in configs]
    else:
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor
        os.environ.setdefault("FLASHD_SYNTH_JOBS", "1")     # the configurations are the parallelism
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as ex:
            futures = [ex.submit(_config_rows, fmt, d, library, extra, t0, _say, False) for fmt, d in configs]
            rows = [f.result() for f in futures]
    seconds = round(time.time() - t0, 1)
    (out_dir / "compare.json").write_text(json.dumps({"paper_reduction_pct": PAPER_REDUCTION, "seconds": seconds,
                                                      "jobs": jobs, "rows": rows}, indent=1))
    with open(out_dir / "compare.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        cats = sorted({c for r in rows for c in list(r["fa2_breakdown"]) + list(r["flashd_breakdown"])})
        w.writerow(["fmt", "d", "fa2", "flashd", "reduction_pct", "fa2_flops", "flashd_flops", "fa2_depth",
                    "flashd_depth", "fa2_loop_depth", "flashd_loop_depth", "area_unit"]
                   + [f"fa2:{c}" for c in cats] + [f"flashd:{c}" for c in cats])
        for r in rows:
            w.writerow([r["fmt"], r["d"], r["fa2"], r["flashd"], r["reduction_pct"], r["fa2_flops"], r["flashd_flops"],
                        r["fa2_depth"], r["flashd_depth"], r["fa2_loop_depth"], r["flashd_loop_depth"], r["area_unit"]]
                       + [r["fa2_breakdown"].get(c, 0) for c in cats] + [r["flashd_breakdown"].get(c, 0) for c in cats])
    md = table(rows)
    (out_dir / "compare.md").write_text(md + "\n")
    _plot(rows, out_dir / "compare.png")
    progress(f"wrote {out_dir}/compare.md, .csv, .json, .png in {time.time() - t0:.0f} s")
    return rows


def _say(message):
    print(message, flush=True)


def table(rows):
    unit = rows[0]["area_unit"] if rows else "GE"
    avg = sum(r["reduction_pct"] for r in rows) / max(len(rows), 1)
    lines = [f"| format | d | FA2 ({unit}) | FLASH-D ({unit}) | reduction | FA2 dot / softmax / lanes / norm / top | "
             f"FLASH-D dot / weight / lanes / out / top | depth FA2 / FLASH-D (loop) |", "|---|---|---|---|---|---|---|---|"]

    def parts(b):
        keys = ["dot product", "softmax / weight path", "output update lanes", "normalization",
                "registers and muxes (top level)"]
        return " / ".join(f"{b.get(k, 0):.0f}" for k in keys)

    for r in rows:
        lines.append(f"| {r['fmt']} | {r['d']} | {r['fa2']:.0f} | {r['flashd']:.0f} | {r['reduction_pct']:+.1f}% | "
                     f"{parts(r['fa2_breakdown'])} | {parts(r['flashd_breakdown'])} | "
                     f"{r['fa2_depth']} ({r['fa2_loop_depth']}) / {r['flashd_depth']} ({r['flashd_loop_depth']}) |")
    lines.append(f"\nAverage reduction: {avg:+.1f}% (paper, 28 nm: {PAPER_REDUCTION:+.1f}%)")
    return "\n".join(lines)


def _plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fmts = sorted({r["fmt"] for r in rows})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for fmt in fmts:
        rs = sorted((r for r in rows if r["fmt"] == fmt), key=lambda r: r["d"])
        ds = [r["d"] for r in rs]
        line, = ax1.plot(ds, [r["fa2"] for r in rs], "o--", label=f"FA2 {fmt}")
        ax1.plot(ds, [r["flashd"] for r in rs], "o-", color=line.get_color(), label=f"FLASH-D {fmt}")
        ax2.plot(ds, [r["reduction_pct"] for r in rs], "o-", color=line.get_color(), label=fmt)
    ax2.axhline(PAPER_REDUCTION, color="gray", ls=":", label=f"paper {PAPER_REDUCTION}%")
    unit = rows[0]["area_unit"] if rows else "GE"
    ax1.set(xscale="log", yscale="log", xlabel="d", ylabel=f"area ({unit})", title="area")
    ax2.set(xscale="log", xlabel="d", ylabel="FLASH-D vs FA2 area (%)", title="reduction")
    ds = sorted({r["d"] for r in rows})
    for ax in (ax1, ax2):
        ax.set_xticks(ds, [str(d) for d in ds])       # the swept d, not 2x10^1
        ax.minorticks_off()
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def operator_table(fmts, ops=("add", "mul", "exp"), library=None, progress=print):
    """Markdown table of single operators (combinational): generic cells with the reference
    flow (``synth -flatten; abc -g ...``, as FloPoCo's figures), and area in the library."""
    from flashd.verif.registry import OpSpec

    from .flow import synth_module
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


def tradeoff(fmt, d, problems, *, library=None, progress=print, labels=None, clock_ns=None, jobs=1):
    """Area at head dimension ``d`` beside error on real data for the standard configurations
    (:func:`flashd.verif.accuracy.configs`): answers "how small is FLASH-D at equal or better
    accuracy than FA2". Returns ``(rows, markdown)``; each row holds the parameters, area and
    error statistics. Accuracy runs at the data's own head dimension. ``labels`` keeps only
    those configurations (the first kept one is the baseline). With ``clock_ns`` each
    configuration is its smallest design meeting that clock (:func:`flashd.synth.closure.search_all`:
    stages and P chosen by timing; neither changes the arithmetic, so the error is the same)."""
    from flashd.verif.accuracy import configs, evaluate
    data_d = problems[0][1].shape[1]
    chosen = [(label, p, p_data) for (label, p), (_, p_data) in zip(configs(fmt, d), configs(fmt, data_d), strict=True)
              if labels is None or label in labels]
    reports = {}
    if clock_ns is not None:
        from .closure import search_all
        tasks = {label: (p.design, clock_ns, fmt, d, tuple(sorted((k, v) for k, v in p.as_dict().items()
                                                                   if k not in ("design", "fmt", "d", "stages", "interleave"))))
                 for label, p, _ in chosen}
        found = search_all(list(tasks.values()), library=library, jobs=jobs, progress=progress)
        reports = {label: found[t][0] for label, t in tasks.items()}
    rows = []
    for label, p, p_data in chosen:
        if label not in reports:
            progress(f"  {label}: synthesizing")
            reports[label] = engine_report(p.design, library=library, progress=None,
                                           **{k: v for k, v in p.as_dict().items() if k != "design"})
        area = reports[label]
        err = evaluate(p_data, problems)
        progress(f"  {label}: {area['area']:.0f} {area['area_unit']}, RMS rel {err['rms_rel']:.4f}")
        t = area["timing"]
        rows.append({"label": label, "parameters": area["parameters"], "area": area["area"], "area_unit": area["area_unit"],
                     "breakdown": area["breakdown"], "latency": area["latency"], "throughput": area["throughput"],
                     "rms_rel": err["rms_rel"], "max_rel": err["max_rel"], "floor_rms_rel": err["floor_rms_rel"],
                     "library": area["library"]["name"] if area["library"] else None,
                     "timing": None if t is None else {k: t[k] for k in ("clock_ns", "met", "critical_ns", "fmax_mhz")}})
    base = rows[0]                                  # FA2 at the input format
    unit = base["area_unit"]
    at = "" if clock_ns is None else (f" in {base['library']} at {clock_ns} ns (each configuration with the fewest "
                                      "stages and smallest P that meet it, OpenSTA)")
    lines = [f"Area at {fmt} d={d}{at}; error on {len(problems)} heads of real data (d={data_d}); "
             f"FA2 = {base['area']:.0f} {unit}, RMS rel {base['rms_rel']:.4f}",
             "", f"| configuration | area ({unit}) | vs FA2 | vs FA2, same formats | RMS rel | max rel | "
             f"error vs FA2 | latency |" + (" stages / P | fmax (MHz) |" if clock_ns else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|---|" if clock_ns else "")]

    def formats(r):
        return tuple(r["parameters"][k] for k in ("fmt", "acc_fmt", "scalar_fmt"))
    fa2 = {formats(r): r for r in rows if r["parameters"]["design"] == "fa2"}
    for r in rows:
        twin = fa2.get(formats(r))
        same = f"{r['area'] / twin['area']:.3f}" if twin else "-"
        timed = ""
        if r["timing"]:
            q = r["parameters"]
            timed = (f" {q['stages']} / {q['interleave']} | {r['timing']['fmax_mhz']:.1f}"
                     + ("" if r["timing"]["met"] else " (missed)") + " |")
        lines.append(f"| {r['label']} | {r['area']:.0f} | {r['area'] / base['area']:.3f} | {same} | "
                     f"{r['rms_rel']:.4f} | {r['max_rel']:.3g} | {r['rms_rel'] / base['rms_rel']:.2f}x | {r['latency']} |"
                     + timed)
    fair = [r for r in rows if r["parameters"]["design"] == "flashd" and r["rms_rel"] <= base["rms_rel"]
            and (r["timing"] is None or r["timing"]["met"])]
    if fair:
        best = min(fair, key=lambda r: r["area"])
        lines.append(f"\nSmallest FLASH-D at equal or better RMS error than FA2{at and f' at {clock_ns} ns'}: "
                     f"{best['label']}, "
                     f"{best['area']:.0f} {unit} = {best['area'] / base['area']:.3f} x FA2 "
                     f"({100 * (best['area'] / base['area'] - 1):+.1f}%).")
    else:
        lines.append("\nNo FLASH-D configuration reaches FA2's RMS error.")
    return rows, "\n".join(lines)
