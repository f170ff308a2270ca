"""FLASH-D vs FA2 at the same clock: for each engine the smallest pipelining that meets it.

Both engines take one (k, v) pair per cycle. Two knobs decide their timing: ``stages``
(register ranks in every feed-forward operator) and the interleave ``P`` (rows processed
round-robin, so that each loop-carried recurrence has P cycles: its operators get P - 1
ranks). :func:`close_timing` starts at ``stages=0, P=1`` and synthesizes the engine at the
clock (timing-driven mapping, OpenSTA on the whole netlist); while the worst path misses the
clock it adds one rank where that path is: one more ``P`` when every operator the path
crosses is on a loop, one more ``stages`` when it crosses a feed-forward operator. The first design that
meets the clock ends the climb (each knob only helps its own paths; when two ranks of one
kind left the worst path as long as before, the next rank is of the other kind); then fewer
stages are retried at the P that met, since stages added while P was small may not be needed
once P has cut the loop's path. The fewest stages that meet the clock at that P is the entry. :func:`compare_at_clock` does it for both engines over
formats, head dimensions and clocks, and writes a table, CSV, JSON and a plot.
"""

import csv
import json
import re
import time
from pathlib import Path

from .power import in_mw
from .report import LOOPS, PAPER_POWER_REDUCTION, PAPER_REDUCTION, _say, engine_report
from .sta import unit_slacks

__all__ = ["close_timing", "compare_at_clock", "clock_table", "MAX_STAGES", "MAX_INTERLEAVE_SEARCH"]

MAX_STAGES = 16                 # search bounds: beyond them the engine is reported as not closing
MAX_INTERLEAVE_SEARCH = 8


def _base(instance):
    return re.sub(r"\d+$", "", instance)


def _loop_path(design, timing):
    """Does the worst path need more interleave rather than more stages? It does when every
    operator it crosses is on a loop (a path that also crosses a feed-forward operator, say
    the exponential on its way into a loop, is shortened by stages)."""
    cp = timing["critical_path"]
    loop_units = {u for loop in LOOPS[design] for u in loop}
    units = list(cp["units"])
    if units and cp["start"].startswith(units[0] + ".unit/o__"):
        units = units[1:]           # starts at a unit's output register (named after its o__ port): no logic of it
    units = [_base(u) for u in units if u != "(top level)"]
    ends_at_state = any(cp["end"].startswith(s) for p in timing["loops"].values() for s in p["state"])
    return all(u in loop_units for u in units) and (ends_at_state or bool(units))


def close_timing(design, clock_ns, *, library, fmt, d, max_stages=MAX_STAGES, max_interleave=MAX_INTERLEAVE_SEARCH,
                 progress=print, **extra):
    """The engine at ``clock_ns`` with the fewest stages and the smallest P that meet it.
    Returns ``(report, trace)``: the engine report of the design that met the clock (or of
    the last one tried, with ``report["timing"]["met"]`` false, when the bounds ran out) and
    one ``{stages, interleave, wns_ns, critical_ns, area, next, retry}`` entry per step (``retry``:
    a step with fewer stages after the clock was met)."""
    from flashd.hdl.params import engine_params
    default = engine_params(design, fmt=fmt, d=d).as_dict()
    name = " ".join([design, str(fmt), f"d={d}"] + [f"{k}={v}" for k, v in extra.items() if default.get(k) != v])
    trace = []

    def attempt(stages, interleave, retry=False):
        """One step: the units alone, then the whole design; ``(report or None, next knob)``."""
        t0 = time.time()
        failing = _units_missing(design, clock_ns, library, fmt, d, stages, interleave, extra)
        if failing:
            unit_name, slack = failing
            knob = "interleave" if _on_loop(design, unit_name) else "stages"
            trace.append({"stages": stages, "interleave": interleave, "wns_ns": slack,
                          "critical_ns": round(clock_ns - slack, 4), "area": None, "unit": unit_name,
                          "seconds": round(time.time() - t0, 1), "next": knob, "retry": retry})
            progress(f"  {name} @ {clock_ns} ns: stages {stages}, P {interleave}: unit {unit_name} alone "
                     f"misses (critical {clock_ns - slack:.2f} ns) in {time.time() - t0:.0f} s -> more {knob}")
            if (knob == "interleave" and interleave < max_interleave) or (knob == "stages" and stages < max_stages):
                return None, knob
        rep = engine_report(design, library=library, clock_ns=clock_ns, fmt=fmt, d=d, stages=stages,
                            interleave=interleave, **extra)
        t = rep["timing"]
        knob = None if t["met"] else ("interleave" if _loop_path(design, t) else "stages")
        full = [x for x in trace if x["area"] is not None]
        if (knob and len(full) >= 2 and full[-1]["next"] == full[-2]["next"] == knob
                and t["critical_ns"] > 0.99 * full[-2]["critical_ns"]):
            # two ranks of this kind left the worst path as long: they are not where it is cut (one
            # may not be: FLASH-D's weight loop is 35.0 ns at P = 1, 35.4 at P = 2, 27 at P = 3)
            knob = "stages" if knob == "interleave" else "interleave"
        trace.append({"stages": stages, "interleave": interleave, "wns_ns": t["wns_ns"], "critical_ns": t["critical_ns"],
                      "area": rep["area"], "seconds": round(time.time() - t0, 1), "next": knob, "retry": retry})
        progress(f"  {name} @ {clock_ns} ns: stages {stages}, P {interleave}: "
                 f"{'met' if t['met'] else 'missed'} (critical {t['critical_ns']:.2f} ns, {rep['area']:.0f} "
                 f"{rep['area_unit']}) in {time.time() - t0:.0f} s" + ("" if retry or not knob else f" -> more {knob}"))
        return rep, knob

    stages, interleave = 0, 1
    while True:
        rep, knob = attempt(stages, interleave)
        if rep is not None and knob is None:
            break
        if knob == "interleave" and interleave < max_interleave:
            interleave += 1
        elif knob == "stages" and stages < max_stages:
            stages += 1
        else:
            t = rep["timing"]
            cp = t["critical_path"]
            rep["timing"]["limited_by"] = (f"{' > '.join(cp['units'])} ({cp['start']} -> {cp['end']}, "
                                           f"{t['critical_ns']:.2f} ns) at stages {stages}, P {interleave}: "
                                           f"the {knob} bound ({max_stages if knob == 'stages' else max_interleave}) is reached")
            progress(f"  {name} cannot meet {clock_ns} ns: limited by {rep['timing']['limited_by']}")
            return rep, trace
    # The search added stages while P was small, then P: at this P fewer stages may meet the clock
    # (FLASH-D fp16 d = 64 at 30 ns: stages 5..8 at P <= 2, met at 8 / 3). Retry them, fewest first;
    # not the stages at which a feed-forward unit alone missed (P does not change those units).
    tried = {(x["stages"], x["interleave"]) for x in trace}
    too_few = {x["stages"] for x in trace if x["area"] is None and x["next"] == "stages"}
    for s in range(stages):
        if (s, interleave) in tried or s in too_few:
            continue
        fewer, knob = attempt(s, interleave, retry=True)
        if fewer is not None and knob is None:
            return fewer, trace
    return rep, trace


def _search(design, clock, library, fmt, d, extra):
    return close_timing(design, clock, library=library, fmt=fmt, d=d, progress=_say, **dict(extra))


def search_all(tasks, *, library, jobs=1, progress=print):
    """:func:`close_timing` for each ``(design, clock_ns, fmt, d, extra)`` task (``extra`` a
    tuple of ``(option, value)`` pairs); ``{task: (report, trace)}``. ``jobs`` searches run at
    once (processes; each search is a sequence of syntheses), cheapest first: an interrupted
    run has its small points, and a rerun replays the synthesis cache."""
    t0 = time.time()
    tasks = sorted(tasks, key=_cost)
    if jobs <= 1:
        return {t: close_timing(t[0], t[1], library=library, fmt=t[2], d=t[3], progress=progress, **dict(t[4]))
                for t in tasks}
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed
    os.environ.setdefault("FLASHD_SYNTH_JOBS", "1")         # the searches are the parallelism
    results = {}
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as ex:
        futures = {ex.submit(_search, t[0], t[1], library, t[2], t[3], t[4]): t for t in tasks}
        for f in as_completed(futures):
            t = futures[f]
            try:
                results[t] = f.result()
            except Exception as e:          # say which search failed now, not after every other one ran
                for other in futures:
                    other.cancel()
                raise RuntimeError(f"the search for {t[0]} {t[2]} d={t[3]} at {t[1]} ns failed: {e}") from e
            progress(f"{len(results)}/{len(tasks)} searches done ({t[0]} {t[2]} d={t[3]} @ {t[1]} ns, "
                     f"{time.time() - t0:.0f} s)")
    return results


_FMT_COST = {"fp8_e4m3": 1, "fp8_e5m2": 1, "bf16": 2, "fp16": 3, "fp32": 8}


def _cost(task):
    design, clock, fmt, d = task[:4]
    return _FMT_COST.get(str(fmt), 4) * d, -clock, design, repr(task[4:])


def _on_loop(design, instance):
    return _base(instance) in {u for loop in LOOPS[design] for u in loop}


def _units_missing(design, clock_ns, library, fmt, d, stages, interleave, extra):
    """The worst unit that misses the clock on its own, ``(instance, slack)``, or None: a
    cheap proof that this (stages, P) cannot meet it (no glue synthesis). A feed-forward unit
    that is more than half of all the units' Verilog (the dot product at d >= 32: most of the
    synthesis time, and the longest syntheses are for clocks it cannot meet) is synthesized
    last, and not at all when a smaller feed-forward unit already misses: the search then adds
    a stage whichever is worse."""
    from flashd.hdl.params import engine_params

    from .flow import BOX_PREFIX, BUILD, synth_units, unit_groups, unit_verilog
    params = engine_params(design, fmt=fmt, d=d, stages=stages, interleave=interleave, **(extra or {}))
    groups = unit_groups(params)
    size = {unit: len(unit_verilog(unit)) for unit in groups}
    big = max(groups, key=size.get)
    rounds = [groups]
    if 2 * size[big] > sum(size.values()) and not _on_loop(design, groups[big][0]) and len(groups) > 1:
        rounds = [{u: m for u, m in groups.items() if u != big}, {big: groups[big]}]
    worst = None
    for part in rounds:
        units = synth_units(params, library=library, clock_ns=clock_ns, label=design, groups=part)
        modules = {BOX_PREFIX + Path(r.netlist).stem: (r.netlist, "clk" in r.ports, members[0])
                   for members, r in units.values()}
        slacks = unit_slacks({m: v[:2] for m, v in modules.items()}, library, clock_ns, BUILD / "units_sta")
        worst = min([(s, modules[m][2]) for m, s in slacks.items() if s is not None] + ([worst] if worst else []),
                    default=None)
        if worst is not None and worst[0] < 0 and not _on_loop(design, worst[1]):
            break
    return None if worst is None or worst[0] >= 0 else (worst[1], worst[0])


def compare_at_clock(ds, fmts, clocks, *, library, out_dir="build/compare_clock", progress=print, extra=None, jobs=2,
                     power=None):
    """Both engines at each clock, format and d (:func:`close_timing`); writes
    compare_clock.{md,csv,json,png} into ``out_dir`` and returns the rows. ``jobs`` searches
    run at once (processes; each search is a sequence of syntheses). ``power(design, clock,
    parameters)``: the power of the design found (:func:`flashd.synth.power.engine_power`),
    added to each engine's entry as ``power`` (total, dynamic, leakage in mW; energy per pair
    in pJ; the activity's source)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    extra = tuple(sorted((extra or {}).items()))
    tasks = [(design, clock, fmt, d, extra) for fmt in fmts for d in ds for clock in clocks for design in ("fa2", "flashd")]
    results = search_all(tasks, library=library, jobs=jobs, progress=progress)
    rows = []
    for fmt in fmts:
        for d in ds:
            for clock in clocks:
                pair = {}
                for design in ("fa2", "flashd"):
                    rep, trace = results[(design, clock, fmt, d, extra)]
                    t = rep["timing"]
                    pair[design] = {"met": t["met"], "area": rep["area"], "cells": rep["cells"], "flops": rep["flops"],
                                    "stages": rep["parameters"]["stages"], "interleave": rep["parameters"]["interleave"],
                                    "fmax_mhz": t["fmax_mhz"], "critical_ns": t["critical_ns"], "wns_ns": t["wns_ns"],
                                    "latency": rep["latency"], "latency_ns": round(rep["latency"] * clock, 3),
                                    "critical_path": t["critical_path"], "breakdown": rep["breakdown"],
                                    "search": trace}
                    if power is not None and t["met"]:
                        pw = power(design, clock, rep["parameters"])["power"]
                        pair[design]["power"] = {
                            "total_mw": in_mw(pw["total"], pw["unit"]), "dynamic_mw": in_mw(pw["dynamic"], pw["unit"]),
                            "leakage_mw": in_mw(pw["leakage"], pw["unit"]), "energy_per_pair_pj": pw["energy_per_pair"],
                            "energy_per_row_pj": pw["energy_per_row"], "data": pw["data"],
                            "activity_source": pw["activity_source"]}
                a, b = pair["fa2"], pair["flashd"]
                rows.append({"fmt": fmt, "d": d, "clock_ns": clock, "area_unit": rep["area_unit"],
                             "library": rep["library"]["name"], "fa2": a, "flashd": b,
                             "reduction_pct": round(100 * (b["area"] / a["area"] - 1), 1) if a["met"] and b["met"] else None})
                if "power" in a and "power" in b:
                    rows[-1]["power_reduction_pct"] = round(
                        100 * (b["power"]["total_mw"] / a["power"]["total_mw"] - 1), 1)
    seconds = round(time.time() - t0, 1)
    (out_dir / "compare_clock.json").write_text(json.dumps({"paper_reduction_pct": PAPER_REDUCTION,
                                                            "paper_power_reduction_pct": PAPER_POWER_REDUCTION,
                                                            "seconds": seconds,
                                                            "rows": rows}, indent=1))
    with open(out_dir / "compare_clock.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        keys = ["met", "area", "cells", "flops", "stages", "interleave", "fmax_mhz", "critical_ns", "latency", "latency_ns"]
        pkeys = ["total_mw", "energy_per_pair_pj"] if power else []
        w.writerow(["fmt", "d", "clock_ns", "library", "area_unit", "reduction_pct"]
                   + [f"{e}_{k}" for e in ("fa2", "flashd") for k in keys]
                   + (["power_reduction_pct"] + [f"{e}_{k}" for e in ("fa2", "flashd") for k in pkeys] if power else []))
        for r in rows:
            w.writerow([r["fmt"], r["d"], r["clock_ns"], r["library"], r["area_unit"], r["reduction_pct"]]
                       + [r[e][k] for e in ("fa2", "flashd") for k in keys]
                       + ([r.get("power_reduction_pct")] + [r[e].get("power", {}).get(k) for e in ("fa2", "flashd")
                                                            for k in pkeys] if power else []))
    md = clock_table(rows)
    (out_dir / "compare_clock.md").write_text(md + "\n")
    _plot(rows, out_dir / "compare_clock.png")
    progress(f"wrote {out_dir}/compare_clock.md, .csv, .json, .png in {seconds:.0f} s")
    return rows


def clock_table(rows):
    """Markdown: per clock, each engine's smallest design that meets it, and the ratio."""
    if not rows:
        return "(no rows)"
    unit = rows[0]["area_unit"]
    lines = [f"Library {rows[0]['library']}; one (k, v) pair per cycle; OpenSTA before placement (wire-load model).",
             "", f"| format | d | clock (ns) | FA2 area ({unit}) | FLASH-D area ({unit}) | FLASH-D vs FA2 | "
             "FA2 stages / P | FLASH-D stages / P | FA2 / FLASH-D fmax (MHz) | cells FA2 / FLASH-D | "
             "flip-flops FA2 / FLASH-D | latency FA2 / FLASH-D (cycles) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def area(e):
        return f"{e['area']:.0f}" + ("" if e["met"] else " (missed)")

    for r in rows:
        a, b = r["fa2"], r["flashd"]
        red = f"{r['reduction_pct']:+.1f}%" if r["reduction_pct"] is not None else "-"
        lines.append(f"| {r['fmt']} | {r['d']} | {r['clock_ns']} | {area(a)} | {area(b)} | {red} | "
                     f"{a['stages']} / {a['interleave']} | {b['stages']} / {b['interleave']} | "
                     f"{a['fmax_mhz']:.0f} / {b['fmax_mhz']:.0f} | {a['cells']} / {b['cells']} | "
                     f"{a['flops']} / {b['flops']} | {a['latency']} / {b['latency']} |")
    done = [r["reduction_pct"] for r in rows if r["reduction_pct"] is not None]
    if done:
        lines.append(f"\nFLASH-D vs FA2 at equal clock: {sum(done) / len(done):+.1f}% area on average "
                     f"(paper, 28 nm: {PAPER_REDUCTION:+.1f}%).")
    powered = [r for r in rows if "power_reduction_pct" in r]
    if powered:
        lines += ["", "Power at the same designs, from their gate-level simulation (dynamic + leakage; clock tree, "
                  "glitches and input-pin internal power not modelled):", "",
                  "| format | d | clock (ns) | FA2 power (mW) | FLASH-D power (mW) | FLASH-D vs FA2 | "
                  "energy per (k, v) pair FA2 / FLASH-D (pJ) | rows simulated |", "|---|---|---|---|---|---|---|---|"]
        for r in powered:
            a, b = r["fa2"]["power"], r["flashd"]["power"]
            lines.append(f"| {r['fmt']} | {r['d']} | {r['clock_ns']} | {a['total_mw']:.3f} | {b['total_mw']:.3f} | "
                         f"{r['power_reduction_pct']:+.1f}% | {a['energy_per_pair_pj']:.1f} / "
                         f"{b['energy_per_pair_pj']:.1f} | {b['data']} |")
        mean = sum(r["power_reduction_pct"] for r in powered) / len(powered)
        lines.append(f"\nFLASH-D vs FA2 power at equal clock: {mean:+.1f}% on average "
                     f"(paper, 28 nm: {PAPER_POWER_REDUCTION:+.1f}%).")
    return "\n".join(lines)


def _plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    unit = rows[0]["area_unit"] if rows else ""
    for fmt, d in sorted({(r["fmt"], r["d"]) for r in rows}):
        rs = sorted((r for r in rows if r["fmt"] == fmt and r["d"] == d), key=lambda r: r["clock_ns"])
        ts = [r["clock_ns"] for r in rs]
        line, = ax1.plot(ts, [r["fa2"]["area"] for r in rs], "o--", label=f"FA2 {fmt} d={d}")
        ax1.plot(ts, [r["flashd"]["area"] for r in rs], "o-", color=line.get_color(), label=f"FLASH-D {fmt} d={d}")
        ok = [r for r in rs if r["reduction_pct"] is not None]
        ax2.plot([r["clock_ns"] for r in ok], [r["reduction_pct"] for r in ok], "o-", color=line.get_color(),
                 label=f"{fmt} d={d}")
    ax2.axhline(PAPER_REDUCTION, color="gray", ls=":", label=f"paper {PAPER_REDUCTION}%")
    ax1.set(xlabel="clock period (ns)", ylabel=f"area ({unit})", title="smallest design meeting the clock")
    ax2.set(xlabel="clock period (ns)", ylabel="FLASH-D vs FA2 area (%)", title="ratio at equal clock")
    for ax in (ax1, ax2):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
