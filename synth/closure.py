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
once P has cut the loop's path. The fewest stages that meet the clock at that P is the entry.
:mod:`flashd.synth.sweep` runs it for several designs over formats, head dimensions and clocks.
"""

import re
import time
from pathlib import Path

from flashd.verif.designs import design as get_design

from .flow import BOX_PREFIX, synth_root, synth_units, unit_groups, unit_verilog
from .report import engine_report
from .sta import unit_slacks

__all__ = ["close_timing", "MAX_STAGES", "MAX_INTERLEAVE_SEARCH"]

MAX_STAGES = 16                 # search bounds: beyond them the engine is reported as not closing
MAX_INTERLEAVE_SEARCH = 8


def _base(instance):
    return re.sub(r"\d+$", "", instance)


def _loop_path(loop_units, timing):
    """Does the worst path need more interleave rather than more stages? It does when every
    operator it crosses is on a loop (``loop_units``; a path that also crosses a feed-forward
    operator, say the exponential on its way into a loop, is shortened by stages)."""
    cp = timing["critical_path"]
    units = list(cp["units"])
    if units and cp["start"].startswith(units[0] + ".unit/o__"):
        units = units[1:]           # starts at a unit's output register (named after its o__ port): no logic of it
    units = [_base(u) for u in units if u != "(top level)"]
    ends_at_state = any(cp["end"].startswith(s) for p in timing["loops"].values() for s in p["state"])
    return all(u in loop_units for u in units) and (ends_at_state or bool(units))


def close_timing(design, clock_ns, *, library, fmt, d, max_stages=MAX_STAGES, max_interleave=MAX_INTERLEAVE_SEARCH,
                 progress=print, jobs=None, **extra):
    """The engine at ``clock_ns`` with the fewest stages and the smallest P that meet it.
    Returns ``(report, trace)``: the engine report of the design that met the clock (or of
    the last one tried, with ``report["timing"]["met"]`` false, when the bounds ran out) and
    one ``{stages, interleave, wns_ns, critical_ns, area, next, retry}`` entry per step (``retry``:
    a step with fewer stages after the clock was met). ``jobs``: Yosys runs at once within a step."""
    dsg = get_design(design)
    design = dsg.name
    default = dsg.parameters(fmt=fmt, d=d).as_dict()
    loop_units = dsg.loop_units(dsg.parameters(fmt=fmt, d=d, **extra))
    name = " ".join([design, str(fmt), f"d={d}"] + [f"{k}={v}" for k, v in extra.items() if default.get(k) != v])
    trace = []

    def attempt(stages, interleave, retry=False):
        """One step: the units alone, then the whole design; ``(report or None, next knob)``."""
        t0 = time.time()
        failing = _units_missing(dsg, clock_ns, library, fmt, d, stages, interleave, extra, jobs)
        if failing:
            unit_name, slack = failing
            knob = "interleave" if _on_loop(loop_units, unit_name) else "stages"
            trace.append({"stages": stages, "interleave": interleave, "wns_ns": slack,
                          "critical_ns": round(clock_ns - slack, 4), "area": None, "unit": unit_name,
                          "seconds": round(time.time() - t0, 1), "next": knob, "retry": retry})
            progress(f"  {name} @ {clock_ns} ns: stages {stages}, P {interleave}: unit {unit_name} alone "
                     f"misses (critical {clock_ns - slack:.2f} ns) in {time.time() - t0:.0f} s -> more {knob}")
            if (knob == "interleave" and interleave < max_interleave) or (knob == "stages" and stages < max_stages):
                return None, knob
        rep = engine_report(design, library=library, clock_ns=clock_ns, fmt=fmt, d=d, stages=stages,
                            interleave=interleave, jobs=jobs, **extra)
        t = rep["timing"]
        knob = None if t["met"] else ("interleave" if _loop_path(loop_units, t) else "stages")
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


def _on_loop(loop_units, instance):
    return _base(instance) in loop_units


def _units_missing(dsg, clock_ns, library, fmt, d, stages, interleave, extra, jobs):
    """The worst unit that misses the clock on its own, ``(instance, slack)``, or None: a
    cheap proof that this (stages, P) cannot meet it (no glue synthesis). A feed-forward unit
    that is more than half of all the units' Verilog (the dot product at d >= 32: most of the
    synthesis time, and the longest syntheses are for clocks it cannot meet) is synthesized
    last, and not at all when a smaller feed-forward unit already misses: the search then adds
    a stage whichever is worse."""
    params = dsg.parameters(fmt=fmt, d=d, stages=stages, interleave=interleave, **(extra or {}))
    loop_units = dsg.loop_units(params)
    groups = unit_groups(params)
    size = {unit: len(unit_verilog(unit)) for unit in groups}
    big = max(groups, key=size.get)
    rounds = [groups]
    if 2 * size[big] > sum(size.values()) and not _on_loop(loop_units, groups[big][0]) and len(groups) > 1:
        rounds = [{u: m for u, m in groups.items() if u != big}, {big: groups[big]}]
    worst = None
    for part in rounds:
        units = synth_units(params, library=library, clock_ns=clock_ns, label=dsg.name, groups=part, jobs=jobs)
        modules = {BOX_PREFIX + Path(r.netlist).stem: (r.netlist, "clk" in r.ports, members[0])
                   for members, r in units.values()}
        slacks = unit_slacks({m: v[:2] for m, v in modules.items()}, library, clock_ns, synth_root() / "units_sta")
        worst = min([(s, modules[m][2]) for m, s in slacks.items() if s is not None] + ([worst] if worst else []),
                    default=None)
        if worst is not None and worst[0] < 0 and not _on_loop(loop_units, worst[1]):
            break
    return None if worst is None or worst[0] >= 0 else (worst[1], worst[0])
