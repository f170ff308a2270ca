"""Sweeps: designs compared over head dimensions, formats and clocks.

A comparison takes a baseline design and one or more candidates (descriptors of
:mod:`flashd.verif.designs`; FA2 and FLASH-D by default). Its work is a list of plain tasks
(:class:`ReportTask`: one synthesis; :class:`SearchTask`: one timing search, a sequence of
syntheses), each a picklable function object with every setting it needs (the library, the
cache root, the Yosys runs it may start), submitted to a ``concurrent.futures.Executor``
passed in: a local process pool by default (``jobs``), or a Dask cluster's
(:func:`open_executor`: ``local:N`` workers on this host, or any running scheduler,
``tcp://HOST:PORT``), or any other. Nothing reaches a task through the environment: the
cache root is in the task, and hosts that share it may run the same sweep (results are
content-addressed, written atomically, under names unique across hosts).

:func:`compare` writes compare.{md,csv,json,png} (area); :func:`compare_at_clock` writes
compare_clock.{md,csv,json,png} (per design the fewest stages and smallest P meeting each
clock, and optionally power); :func:`tradeoff` sets area beside real-data error.
"""

import contextlib
import csv
import json
import logging
import multiprocessing
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from flashd.progress import say, steps
from flashd.verif.accuracy import configs, evaluate
from flashd.verif.cache import cache_dir, set_cache_dir
from flashd.verif.designs import DOT, LANES, NORMALIZATION, PAPER_OPTIONS, WEIGHT, config

from .closure import close_timing
from .flow import GLUE, use_yosys, yosys_kind
from .power import in_mw
from .provenance import provenance
from .report import PAPER_POWER_REDUCTION, PAPER_REDUCTION, engine_report

__all__ = ["DEFAULT_DESIGNS", "LADDER", "ladder", "ladder_table", "ReportTask", "SearchTask", "open_executor", "run_tasks", "search_all", "compare", "table",
           "compare_at_clock", "clock_table", "tradeoff"]

DEFAULT_DESIGNS = ("fa2", "flashd")         # the baseline first, then the candidates
PARTS = (DOT, WEIGHT, LANES, NORMALIZATION, GLUE)      # the breakdown columns of the area table

# compare --preset ladder: the paper's pair and the strongest pair (the baseline first) at clocks people use
LADDER = {
    "fmt": "bf16", "d": 64, "clocks": (10.0, 15.0, 20.0, 30.0, 40.0),
    "blocks": {
        # each engine's default: the row streamed out on the fewest lanes that keep up with
        # rows of 64 keys (FA2 normalizes on those lanes), faithful units, FLASH-D's weight loop
        # in fixed point (both update forms: lerp's lane loop is an adder and an FMA, blend's
        # one FMA); FA2 with an fp32 scalar path (more accurate) beside
        "strongest": ("fa2", "flashd", "flashd/update=blend", "fa2/scalar_fmt=fp32"),
        # as published: the row normalized at once on d multipliers, piecewise-linear units,
        # FLASH-D's saturation rule and blend update
        "paper": tuple("/".join([name, *(f"{k}={v}" for k, v in PAPER_OPTIONS[name].items())])
                       for name in ("fa2", "flashd")),
    }}


def _designs(designs, fmts=(), ds=(), extra=None):
    """Validated configurations (:func:`~flashd.verif.designs.config`: a design name or
    ``design/option=value/...``), the baseline first; at least two, none twice; each one's
    parameters built at every format and d (a bad option fails before any synthesis)."""
    configs = [config(d) for d in designs]
    names = [c.spec for c in configs]
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"designs={names}: a baseline and at least one other design, each once")
    for c in configs:
        for fmt in fmts:
            for d in ds:
                try:
                    c.parameters(fmt=fmt, d=d, **(extra or {}))
                except ValueError as e:
                    raise ValueError(f"{c.spec} at {fmt} d={d}: {e}") from None
    return configs


def _task_key(c, extra):
    """``(design, options)`` of configuration ``c`` with the sweep's ``extra`` under its own."""
    return c.design, tuple(sorted({**dict(extra), **dict(c.options)}.items()))


# ---- tasks ---------------------------------------------------------------------------------------

def _settle(task):
    """The process-wide settings a task carries (a worker may come from another run)."""
    if task.cache is not None:
        set_cache_dir(task.cache)
    use_yosys(task.yosys)


@dataclass(frozen=True)
class ReportTask:
    """One design synthesized (:func:`flashd.synth.report.engine_report`)."""
    design: str
    fmt: str
    d: int
    library: object = None
    extra: tuple = ()               # (option, value) pairs of the design
    cache: str = None               # the cache root the task uses (None: the worker's own)
    synth_jobs: int = 1             # Yosys runs at once inside the task
    yosys: str = field(default_factory=yosys_kind)      # which Yosys (flow.YOSYS)

    @property
    def label(self):
        return " ".join([self.design, str(self.fmt), f"d={self.d}", *(f"{k}={v}" for k, v in self.extra)])

    def __call__(self, progress=None):
        _settle(self)
        return engine_report(self.design, d=self.d, fmt=self.fmt, library=self.library, jobs=self.synth_jobs,
                             progress=progress, **dict(self.extra))


@dataclass(frozen=True)
class SearchTask:
    """One timing search (:func:`flashd.synth.closure.close_timing`); returns ``(report, trace)``."""
    design: str
    clock_ns: float
    fmt: str
    d: int
    extra: tuple = ()
    library: object = field(default=None, compare=False)
    cache: str = field(default=None, compare=False)
    synth_jobs: int = field(default=1, compare=False)
    yosys: str = field(default_factory=yosys_kind, compare=False)

    @property
    def key(self):
        return self.design, self.clock_ns, self.fmt, self.d, self.extra

    @property
    def label(self):
        return f"{self.design} {self.fmt} d={self.d} at {self.clock_ns} ns"

    def cost(self):
        """Cheapest first: an interrupted run has its small points."""
        return _FMT_COST.get(str(self.fmt), 4) * self.d, -self.clock_ns, self.design, repr(self.extra)

    def __call__(self, progress=say):
        _settle(self)
        return close_timing(self.design, self.clock_ns, library=self.library, fmt=self.fmt, d=self.d,
                            progress=progress, jobs=self.synth_jobs, **dict(self.extra))


_FMT_COST = {"fp8_e4m3": 1, "fp8_e5m2": 1, "bf16": 2, "fp16": 3, "fp32": 8}


def local_executor(jobs):
    """The default executor: ``jobs`` local processes (forked: the workers start with this
    process's imports)."""
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"))


RETRIES = 2           # a task whose worker died is run again (Dask also reschedules it by itself)
CONNECT_SECONDS = 10  # how long a --scheduler may take to answer


def _cluster_spec(spec):
    """``local:N`` -> N; anything else is refused by name."""
    m = re.fullmatch(r"local:(\d+)", spec or "")
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"--executor {spec!r}: allowed local:N (N >= 1 Dask workers on this host); "
                         "a running cluster: --scheduler tcp://HOST:PORT")
    return int(m.group(1))


@contextlib.contextmanager
def open_executor(spec=None, *, scheduler=None, progress=say):
    """A ``concurrent.futures`` executor on Dask, closed at exit: ``spec`` ``local:N`` starts a
    ``LocalCluster`` of N single-threaded worker processes; ``scheduler`` (``tcp://HOST:PORT``)
    connects to a running one (its workers need flashd installed and the cache directory, if
    they are to share it). Neither: yields None (:func:`run_tasks` then uses ``jobs`` local
    processes)."""
    if spec is None and scheduler is None:
        yield None
        return
    if spec is not None and scheduler is not None:
        raise ValueError(f"--executor {spec} and --scheduler {scheduler}: give one")
    n = _cluster_spec(spec) if spec is not None else None
    try:
        from distributed import Client, LocalCluster  # the cluster extra: imported when asked for
    except ImportError:
        raise ValueError("a Dask executor needs the cluster extra: pip install 'flashd[cluster]'") from None
    with contextlib.ExitStack() as stack:
        if n is not None:
            cluster = stack.enter_context(LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                       dashboard_address=":0", silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
            progress(f"Dask: {n} local workers ({client.scheduler.address})")
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout=CONNECT_SECONDS))
            except OSError as e:
                raise ValueError(f"--scheduler {scheduler}: no Dask scheduler answers there ({e})") from None
            progress(f"Dask: scheduler {scheduler}, {len(client.scheduler_info()['workers'])} workers")
        yield client.get_executor(retries=RETRIES, pure=False)


def run_tasks(tasks, *, executor=None, jobs=1, progress=say, what="tasks"):
    """Run ``tasks`` (task objects above) and return their results in order. ``executor``: any
    ``concurrent.futures.Executor`` (not shut down here); else ``jobs`` local processes, or
    this process when ``jobs`` is 1 (then each task reports through ``progress`` too). A
    failed task stops the run and is named. On a terminal a bar counts the ``what`` done."""
    tasks = list(tasks)
    t0 = time.time()
    with steps(len(tasks), what, unit=what.split()[-1]) as bar:
        if executor is None and jobs <= 1:
            out = []
            for k, t in enumerate(tasks):
                out.append(t(progress))
                bar.update()
                progress(f"{k + 1}/{len(tasks)} done ({t.label}, {time.time() - t0:.0f} s)")
            return out
        own = executor is None
        ex = local_executor(jobs) if own else executor
        try:
            futures = {ex.submit(t): k for k, t in enumerate(tasks)}
            results = [None] * len(tasks)
            for n, f in enumerate(as_completed(futures), 1):
                k = futures[f]
                try:
                    results[k] = f.result()
                except Exception as e:          # say which task failed now, not after every other one ran
                    for other in futures:
                        other.cancel()
                    raise RuntimeError(f"{tasks[k].label} failed: {e}") from e
                bar.update()
                spent = time.time() - t0
                progress(f"{n}/{len(tasks)} done ({tasks[k].label}; {spent:.0f} s, about "
                         f"{spent / n * (len(tasks) - n):.0f} s left)")
            return results
        finally:
            if own:
                ex.shutdown(cancel_futures=True)


def search_all(tasks, *, library, executor=None, jobs=1, progress=say):
    """:func:`~flashd.synth.closure.close_timing` for each ``(design, clock_ns, fmt, d, extra)``
    (``extra`` a tuple of ``(option, value)`` pairs); ``{task: (report, trace)}``, cheapest first."""
    searches = sorted((SearchTask(*t, library=library, cache=str(cache_dir()),
                                  synth_jobs=1 if executor or jobs > 1 else None) for t in tasks),
                      key=SearchTask.cost)
    results = run_tasks(searches, executor=executor, jobs=jobs, progress=progress, what="timing searches")
    return {s.key: r for s, r in zip(searches, results, strict=True)}


# ---- area ----------------------------------------------------------------------------------------

def compare(ds, fmts, *, library=None, out_dir="build/compare", progress=say, extra=None, jobs=1, executor=None,
            designs=DEFAULT_DESIGNS):
    """Area of ``designs`` (baseline first) over ``ds`` x ``fmts``; write compare.{md,csv,json,png}
    into ``out_dir`` and return the rows (per design its area, flip-flops, depths, breakdown;
    ``reduction_pct``: the first candidate against the baseline, ``reductions`` every candidate's)."""
    configs = _designs(designs, fmts, ds, extra)
    names = [c.spec for c in configs]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    extra = tuple(sorted((extra or {}).items()))
    parallel = executor is not None or jobs > 1
    tasks = [ReportTask(c.design, fmt, d, library, _task_key(c, extra)[1], str(cache_dir()), 1 if parallel else None)
             for fmt in fmts for d in ds for c in configs]
    reports = iter(run_tasks(tasks, executor=executor, jobs=jobs, progress=progress, what="syntheses"))
    rows = []
    for fmt in fmts:
        for d in ds:
            row = {"fmt": fmt, "d": d, "baseline": names[0], "designs": names,
                   "titles": {c.spec: c.title for c in configs}}
            for n in names:
                r = next(reports)
                row.update({n: r["area"], f"{n}_flops": r["flops"], f"{n}_depth": r["depth"],
                            f"{n}_loop_depth": r["loop_depth"], f"{n}_breakdown": r["breakdown"],
                            f"{n}_seconds": r["seconds"]})
                row["area_unit"] = r["area_unit"]
            row["reductions"] = {n: round(100 * (row[n] / row[names[0]] - 1), 1) for n in names[1:]}
            row["reduction_pct"] = row["reductions"][names[1]]
            rows.append(row)
    seconds = round(time.time() - t0, 1)
    (out_dir / "compare.json").write_text(json.dumps({"kind": "compare", "paper_reduction_pct": PAPER_REDUCTION,
                                                      "seconds": seconds, "jobs": jobs, "rows": rows,
                                                      "provenance": provenance()}, indent=1))
    with open(out_dir / "compare.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        cats = sorted({c for r in rows for n in names for c in r[f"{n}_breakdown"]})
        w.writerow(["fmt", "d", *names, *(f"{n}_reduction_pct" for n in names[1:]),
                    *(f"{n}_{k}" for k in ("flops", "depth", "loop_depth") for n in names), "area_unit"]
                   + [f"{n}:{c}" for n in names for c in cats])
        for r in rows:
            w.writerow([r["fmt"], r["d"], *(r[n] for n in names), *(r["reductions"][n] for n in names[1:]),
                        *(r[f"{n}_{k}"] for k in ("flops", "depth", "loop_depth") for n in names), r["area_unit"]]
                       + [r[f"{n}_breakdown"].get(c, 0) for n in names for c in cats])
    (out_dir / "compare.md").write_text(table(rows) + "\n")
    _plot(rows, out_dir / "compare.png")
    progress(f"wrote {out_dir}/compare.md, .csv, .json, .png in {time.time() - t0:.0f} s")
    return rows


def _pairs(rows):
    """``(baseline, [(candidate, baseline title, candidate title)], area unit)`` of a sweep's rows."""
    names = rows[0]["designs"]
    return names[0], [(c, _title(rows, names[0]), _title(rows, c)) for c in names[1:]], rows[0]["area_unit"]


def _title(rows, name):
    """What tables print for configuration ``name`` (rows written before configurations: its design's title)."""
    titles = rows[0].get("titles") if rows else None
    return titles[name] if titles else config(name).title


def table(rows):
    """Markdown: per candidate, its area beside the baseline's, with the breakdowns."""
    if not rows:
        return "(no rows)"
    base, pairs, unit = _pairs(rows)
    blocks = []
    for cand, a, b in pairs:
        lines = [f"| format | d | {a} ({unit}) | {b} ({unit}) | reduction | {a} dot / softmax / lanes / norm / top | "
                 f"{b} dot / weight / lanes / out / top | depth {a} / {b} (loop) |", "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            parts = [" / ".join(f"{r[f'{n}_breakdown'].get(k, 0):.0f}" for k in PARTS) for n in (base, cand)]
            lines.append(f"| {r['fmt']} | {r['d']} | {r[base]:.0f} | {r[cand]:.0f} | {r['reductions'][cand]:+.1f}% | "
                         f"{parts[0]} | {parts[1]} | {r[f'{base}_depth']} ({r[f'{base}_loop_depth']}) / "
                         f"{r[f'{cand}_depth']} ({r[f'{cand}_loop_depth']}) |")
        avg = sum(r["reductions"][cand] for r in rows) / len(rows)
        lines.append(f"\nAverage reduction: {avg:+.1f}% (paper, 28 nm: {PAPER_REDUCTION:+.1f}%)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


STYLES = ["s--", "o-", "^-", "v-", "D-"]     # one marker per design: the baseline's squares, dashed


def _log_if_wide(ax, values):
    """A log area axis only when the areas span a decade or more (else it has no labelled tick)."""
    values = [v for v in values if v and v > 0]
    if values and max(values) >= 10 * min(values):
        ax.set_yscale("log")


def _pyplot():
    import matplotlib  # the plots only: the rest of the flow does not need it loaded
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _plot(rows, path):
    plt = _pyplot()
    names = rows[0]["designs"] if rows else list(DEFAULT_DESIGNS)
    fmts = sorted({r["fmt"] for r in rows})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = STYLES
    for fmt in fmts:
        rs = sorted((r for r in rows if r["fmt"] == fmt), key=lambda r: r["d"])
        ds = [r["d"] for r in rs]
        color = None
        for k, n in enumerate(names):
            line, = ax1.plot(ds, [r[n] for r in rs], styles[k % len(styles)], color=color,
                             label=f"{_title(rows, n)} {fmt}")
            color = line.get_color()
        for n in names[1:]:
            ax2.plot(ds, [r["reductions"][n] for r in rs], "o-", color=color,
                     label=fmt if len(names) == 2 else f"{_title(rows, n)} {fmt}")
    ax2.axhline(PAPER_REDUCTION, color="gray", ls=":", label=f"paper {PAPER_REDUCTION}%")
    unit = rows[0]["area_unit"] if rows else "GE"
    ax1.set(xscale="log", xlabel="d", ylabel=f"area ({unit})", title="area")
    _log_if_wide(ax1, [r[n] for r in rows for n in names])
    ax2.set(xscale="log", xlabel="d", ylabel=f"vs {_title(rows, names[0])} area (%)",
            title="area against " + _title(rows, names[0]) + " (%, negative: smaller)")
    ds = sorted({r["d"] for r in rows})
    for ax in (ax1, ax2):
        ax.set_xticks(ds, [str(d) for d in ds])       # the swept d, not 2x10^1
        ax.minorticks_off()
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- at a clock ----------------------------------------------------------------------------------

def _entry(rep, trace, clock):
    t = rep["timing"]
    return {"met": t["met"], "area": rep["area"], "cells": rep["cells"], "flops": rep["flops"],
            "stages": rep["parameters"]["stages"], "interleave": rep["parameters"]["interleave"],
            "fmax_mhz": t["fmax_mhz"], "critical_ns": t["critical_ns"], "wns_ns": t["wns_ns"],
            "latency": rep["latency"], "latency_ns": round(rep["latency"] * clock, 3),
            "critical_path": t["critical_path"], "breakdown": rep["breakdown"], "search": trace,
            "loops": {name: None if p is None else {k: p[k] for k in ("critical_ns", "slack_ns", "units")}
                      for name, p in t["loops"].items()}}


def _pct(b, a):
    return round(100 * (b / a - 1), 1)


def compare_at_clock(ds, fmts, clocks, *, library, out_dir="build/compare_clock", progress=say, extra=None, jobs=2,
                     executor=None, power=None, designs=DEFAULT_DESIGNS):
    """Each of ``designs`` (baseline first) at each clock, format and d
    (:func:`~flashd.synth.closure.close_timing`); writes compare_clock.{md,csv,json,png} into
    ``out_dir`` and returns the rows. The searches run as :class:`SearchTask` on ``executor``
    (else ``jobs`` local processes). ``power(design, clock, parameters)``: the power of the
    design found (:func:`flashd.synth.power.engine_power`), added to each design's entry as
    ``power`` (total, dynamic, leakage in mW; energy per pair in pJ; the activity's source)."""
    configs = _designs(designs, fmts, ds, extra)
    names = [c.spec for c in configs]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    extra = tuple(sorted((extra or {}).items()))
    keys = {c.spec: _task_key(c, extra) for c in configs}
    tasks = list(dict.fromkeys((keys[n][0], clock, fmt, d, keys[n][1]) for fmt in fmts for d in ds for clock in clocks
                               for n in names))
    results = search_all(tasks, library=library, executor=executor, jobs=jobs, progress=progress)
    rows = []
    for fmt in fmts:
        for d in ds:
            for clock in clocks:
                row = {"fmt": fmt, "d": d, "clock_ns": clock, "baseline": names[0], "designs": names,
                       "titles": {c.spec: c.title for c in configs}}
                for n in names:
                    rep, trace = results[(keys[n][0], clock, fmt, d, keys[n][1])]
                    row[n] = e = _entry(rep, trace, clock)
                    row["area_unit"], row["library"] = rep["area_unit"], rep["library"]["name"]
                    if power is not None and e["met"]:
                        pw = power(keys[n][0], clock, rep["parameters"])["power"]
                        e["power"] = {"total_mw": in_mw(pw["total"], pw["unit"]),
                                      "dynamic_mw": in_mw(pw["dynamic"], pw["unit"]),
                                      "leakage_mw": in_mw(pw["leakage"], pw["unit"]),
                                      "energy_per_pair_pj": pw["energy_per_pair"],
                                      "energy_per_row_pj": pw["energy_per_row"], "data": pw["data"],
                                      "activity_source": pw["activity_source"]}
                a = row[names[0]]
                row["reductions"] = {n: _pct(row[n]["area"], a["area"]) if a["met"] and row[n]["met"] else None
                                     for n in names[1:]}
                row["reduction_pct"] = row["reductions"][names[1]]
                powered = {n: _pct(row[n]["power"]["total_mw"], a["power"]["total_mw"])
                           for n in names[1:] if "power" in a and "power" in row[n]}
                if powered:
                    row["power_reductions"] = powered
                    if names[1] in powered:
                        row["power_reduction_pct"] = powered[names[1]]
                rows.append(row)
    seconds = round(time.time() - t0, 1)
    (out_dir / "compare_clock.json").write_text(json.dumps({"kind": "compare_clock", "paper_reduction_pct": PAPER_REDUCTION,
                                                            "paper_power_reduction_pct": PAPER_POWER_REDUCTION,
                                                            "seconds": seconds, "rows": rows,
                                                            "provenance": provenance(timed=True)}, indent=1))
    with open(out_dir / "compare_clock.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        keys = ["met", "area", "cells", "flops", "stages", "interleave", "fmax_mhz", "critical_ns", "latency", "latency_ns"]
        pkeys = ["total_mw", "energy_per_pair_pj"] if power else []
        reds = ["reduction_pct"] + [f"{n}_reduction_pct" for n in names[2:]]
        w.writerow(["fmt", "d", "clock_ns", "library", "area_unit", *reds]
                   + [f"{e}_{k}" for e in names for k in keys]
                   + (["power_reduction_pct"] + [f"{e}_{k}" for e in names for k in pkeys] if power else []))
        for r in rows:
            w.writerow([r["fmt"], r["d"], r["clock_ns"], r["library"], r["area_unit"],
                        *(r["reductions"][n] for n in names[1:])]
                       + [r[e][k] for e in names for k in keys]
                       + ([r.get("power_reduction_pct")] + [r[e].get("power", {}).get(k) for e in names
                                                            for k in pkeys] if power else []))
    md = clock_table(rows)
    (out_dir / "compare_clock.md").write_text(md + "\n")
    _plot_clock(rows, out_dir / "compare_clock.png")
    progress(f"wrote {out_dir}/compare_clock.md, .csv, .json, .png in {seconds:.0f} s")
    return rows


def clock_table(rows):
    """Markdown: per clock, each design's smallest version that meets it, a candidate beside the baseline."""
    if not rows:
        return "(no rows)"
    base, pairs, unit = _pairs(rows)
    blocks = []
    for cand, A, B in pairs:
        lines = [f"Library {rows[0]['library']}; one (k, v) pair per cycle; OpenSTA before placement (wire-load model).",
                 "", f"| format | d | clock (ns) | {A} area ({unit}) | {B} area ({unit}) | {B} vs {A} | "
                 f"{A} stages / P | {B} stages / P | {A} / {B} fmax (MHz) | cells {A} / {B} | "
                 f"flip-flops {A} / {B} | latency {A} / {B} (cycles) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]

        def area(e):
            return f"{e['area']:.0f}" + ("" if e["met"] else " (missed)")

        for r in rows:
            a, b = r[base], r[cand]
            red = r["reductions"][cand]
            lines.append(f"| {r['fmt']} | {r['d']} | {r['clock_ns']} | {area(a)} | {area(b)} | "
                         f"{'-' if red is None else f'{red:+.1f}%'} | "
                         f"{a['stages']} / {a['interleave']} | {b['stages']} / {b['interleave']} | "
                         f"{a['fmax_mhz']:.0f} / {b['fmax_mhz']:.0f} | {a['cells']} / {b['cells']} | "
                         f"{a['flops']} / {b['flops']} | {a['latency']} / {b['latency']} |")
        done = [r["reductions"][cand] for r in rows if r["reductions"][cand] is not None]
        if done:
            lines.append(f"\n{B} vs {A} at equal clock: {sum(done) / len(done):+.1f}% area on average "
                         f"(paper, 28 nm: {PAPER_REDUCTION:+.1f}%).")
        powered = [r for r in rows if cand in r.get("power_reductions", {})]
        if powered:
            lines += ["", "Power at the same designs, from their gate-level simulation (dynamic + leakage; clock tree, "
                      "glitches and input-pin internal power not modelled):", "",
                      f"| format | d | clock (ns) | {A} power (mW) | {B} power (mW) | {B} vs {A} | "
                      f"energy per (k, v) pair {A} / {B} (pJ) | rows simulated |", "|---|---|---|---|---|---|---|---|"]
            for r in powered:
                a, b = r[base]["power"], r[cand]["power"]
                lines.append(f"| {r['fmt']} | {r['d']} | {r['clock_ns']} | {a['total_mw']:.3f} | {b['total_mw']:.3f} | "
                             f"{r['power_reductions'][cand]:+.1f}% | {a['energy_per_pair_pj']:.1f} / "
                             f"{b['energy_per_pair_pj']:.1f} | {b['data']} |")
            mean = sum(r["power_reductions"][cand] for r in powered) / len(powered)
            lines.append(f"\n{B} vs {A} power at equal clock: {mean:+.1f}% on average "
                         f"(paper, 28 nm: {PAPER_POWER_REDUCTION:+.1f}%).")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _plot_clock(rows, path):
    """One column per format: the smallest design meeting each clock (area; a cross where it
    missed), and the candidates' area against the baseline's; a colour per d, a line style per design."""
    plt = _pyplot()
    from matplotlib.lines import Line2D
    names = rows[0]["designs"] if rows else list(DEFAULT_DESIGNS)
    fmts = sorted({r["fmt"] for r in rows}) or [""]
    ds = sorted({r["d"] for r in rows})
    colors = {d: plt.get_cmap("viridis")(k / max(1, len(ds) - 1) * 0.9) for k, d in enumerate(ds)}
    unit = rows[0]["area_unit"] if rows else ""
    fig, axes = plt.subplots(2, len(fmts), figsize=(3.4 * len(fmts) + 1, 6.4), squeeze=False)
    for col, fmt in enumerate(fmts):
        top, bottom = axes[0][col], axes[1][col]
        for d in ds:
            rs = sorted((r for r in rows if r["fmt"] == fmt and r["d"] == d), key=lambda r: r["clock_ns"])
            for k, n in enumerate(names):
                met = [r for r in rs if r[n]["met"]]
                top.plot([r["clock_ns"] for r in met], [r[n]["area"] for r in met], STYLES[k % len(STYLES)],
                         color=colors[d], ms=4)
                missed = [r for r in rs if not r[n]["met"]]
                top.plot([r["clock_ns"] for r in missed], [r[n]["area"] for r in missed], "x", color=colors[d], ms=7)
            for n in names[1:]:
                ok = [r for r in rs if r["reductions"][n] is not None]
                bottom.plot([r["clock_ns"] for r in ok], [r["reductions"][n] for r in ok],
                            STYLES[(names.index(n)) % len(STYLES)], color=colors[d], ms=4)
        bottom.axhline(PAPER_REDUCTION, color="gray", ls=":")
        _log_if_wide(top, [r[n]["area"] for r in rows if r["fmt"] == fmt for n in names])
        top.set_title(f"{fmt}: smallest design meeting the clock", fontsize=9)
        bottom.set_title(f"{fmt}: area against {_title(rows, names[0])} (%)", fontsize=9)
        clocks = sorted({r["clock_ns"] for r in rows})
        for ax in (top, bottom):
            ax.set_xticks(clocks, [f"{c:g}" for c in clocks])
            ax.set_xlabel("clock period (ns)")
            ax.grid(alpha=0.3)
        top.set_ylabel(f"area ({unit})" if col == 0 else "")
        bottom.set_ylabel(f"vs {_title(rows, names[0])} (%, negative: smaller)" if col == 0 else "")
    handles = ([Line2D([], [], color=colors[d], lw=3, label=f"d = {d}") for d in ds]
               + [Line2D([], [], color="black", ls=STYLES[k % len(STYLES)][1:], marker=STYLES[k % len(STYLES)][0],
                         label=_title(rows, n)) for k, n in enumerate(names)]
               + [Line2D([], [], color="black", ls="", marker="x", label="missed the clock"),
                  Line2D([], [], color="gray", ls=":", label=f"paper {PAPER_REDUCTION}%")])
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- area beside error ---------------------------------------------------------------------------

def tradeoff(fmt, d, problems, *, library=None, progress=say, labels=None, clock_ns=None, jobs=1, executor=None):
    """Area at head dimension ``d`` beside error on real data for the standard configurations
    (:func:`flashd.verif.accuracy.configs`): answers "how small is FLASH-D at equal or better
    accuracy than FA2". Returns ``(result, markdown)``: ``result`` is what tradeoff.json holds
    (``rows``, each with the parameters, area and error statistics, and the run's
    :func:`~flashd.synth.results.provenance`), the markdown is :func:`tradeoff_table` of it. Accuracy runs at the data's own head dimension. ``labels`` keeps only
    those configurations (the first kept one is the baseline). With ``clock_ns`` each
    configuration is its smallest design meeting that clock (:func:`search_all`:
    stages and P chosen by timing; neither changes the arithmetic, so the error is the same).
    The syntheses or searches are tasks on ``executor`` (else ``jobs`` local processes)."""
    data_d = problems[0][1].shape[1]
    chosen = [(label, p, p_data) for (label, p), (_, p_data) in zip(configs(fmt, d), configs(fmt, data_d), strict=True)
              if labels is None or label in labels]
    reports = {}
    if clock_ns is not None:
        # the stream's defaults (configs() sets none) are chosen again at each stages and P
        fixed = ("design", "fmt", "d", "stages", "interleave", "out_lanes", "out_buffers")
        tasks = {label: (p.design, clock_ns, fmt, d, tuple(sorted((k, v) for k, v in p.as_dict().items() if k not in fixed)))
                 for label, p, _ in chosen}
        found = search_all(list(tasks.values()), library=library, executor=executor, jobs=jobs, progress=progress)
        reports = {label: found[t][0] for label, t in tasks.items()}
    else:
        parallel = executor is not None or jobs > 1
        tasks = {label: ReportTask(p.design, fmt, d, library, tuple(sorted((k, v) for k, v in p.as_dict().items()
                                                                        if k not in ("design", "fmt", "d"))),
                                   str(cache_dir()), 1 if parallel else None) for label, p, _ in chosen}
        reports = dict(zip(tasks, run_tasks(tasks.values(), executor=executor, jobs=jobs, progress=progress,
                                               what="syntheses"), strict=True))
    rows = []
    for label, _, p_data in chosen:
        area = reports[label]
        err = evaluate(p_data, problems)
        progress(f"  {label}: {area['area']:.0f} {area['area_unit']}, RMS rel {err['rms_rel']:.4f}")
        t = area["timing"]
        rows.append({"label": label, "parameters": area["parameters"], "area": area["area"], "area_unit": area["area_unit"],
                     "breakdown": area["breakdown"], "latency": area["latency"], "throughput": area["throughput"],
                     "rms_rel": err["rms_rel"], "max_rel": err["max_rel"], "floor_rms_rel": err["floor_rms_rel"],
                     "library": area["library"]["name"] if area["library"] else None,
                     "timing": None if t is None else {k: t[k] for k in ("clock_ns", "met", "critical_ns", "fmax_mhz")}})
    data = {"kind": "tradeoff", "fmt": fmt, "d": d, "data_d": data_d, "heads": len(problems), "clock_ns": clock_ns,
            "rows": rows, "provenance": provenance(timed=clock_ns is not None)}
    return data, tradeoff_table(data)


def tradeoff_table(data):
    """Markdown of :func:`tradeoff`'s result: area beside error, each against FA2."""
    rows, fmt, d, clock_ns = data["rows"], data["fmt"], data["d"], data["clock_ns"]
    base = rows[0]                                  # FA2 at the input format
    unit = base["area_unit"]
    at = "" if clock_ns is None else (f" in {base['library']} at {clock_ns} ns (each configuration with the fewest "
                                      "stages and smallest P that meet it, OpenSTA)")
    lines = [f"Area at {fmt} d={d}{at}; error on {data['heads']} heads of real data (d={data['data_d']}); "
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
    return "\n".join(lines)


# ---- the clock ladder ------------------------------------------------------------------------------

def ladder(problems, *, library, out_dir="build/ladder", power=None, progress=say, jobs=1, executor=None, spec=LADDER):
    """``spec``'s blocks (:data:`LADDER`), each :func:`compare_at_clock` at its clocks into
    ``out_dir/<block>``, and every configuration's real-data error (``problems``, at the data's
    d): the equal-accuracy condition, a FLASH-D configuration against its block's baseline.
    Writes ``out_dir/ladder.{md,json}``; returns the markdown."""
    out_dir = Path(out_dir)
    t0 = time.time()
    fmt, d, clocks = spec["fmt"], spec["d"], list(spec["clocks"])
    data_d = problems[0][1].shape[1]
    for specs in spec["blocks"].values():           # every option checked before any synthesis
        _designs(specs, [fmt], [d, data_d])
    errors = {}
    for specs in spec["blocks"].values():
        for c in map(config, specs):
            if c.spec not in errors:
                e = evaluate(c.parameters(fmt=fmt, d=data_d), problems)
                errors[c.spec] = {k: e[k] for k in ("rms_rel", "max_rel", "floor_rms_rel")}
                progress(f"  {c.title}: RMS rel {e['rms_rel']:.4g} on {len(problems)} heads")
    blocks = {}
    for name, specs in spec["blocks"].items():
        rows = compare_at_clock([d], [fmt], clocks, library=library, out_dir=out_dir / name, progress=progress,
                                jobs=jobs, executor=executor, power=power, designs=specs)
        blocks[name] = rows
    seconds = round(time.time() - t0, 1)
    md = ladder_table({"spec": {**spec, "clocks": clocks}, "errors": errors, "heads": len(problems), "data_d": data_d,
                       "blocks": blocks, "seconds": seconds})
    (out_dir / "ladder.json").write_text(json.dumps({"kind": "ladder", "spec": {**spec, "clocks": clocks}, "errors": errors,
                                                     "heads": len(problems), "data_d": data_d, "blocks": blocks,
                                                     "seconds": seconds, "provenance": provenance(timed=True)}, indent=1))
    (out_dir / "ladder.md").write_text(md + "\n")
    progress(f"wrote {out_dir}/ladder.md and ladder.json in {seconds:.0f} s")
    return md


def _accuracy_verdict(errors, base, cand):
    """Whether ``cand`` errs no more than ``base`` on the real data (the equal-accuracy condition)."""
    b, c = errors[base]["rms_rel"], errors[cand]["rms_rel"]
    return "met" if c <= b else f"missed by {100 * (c / b - 1):.0f}%"


def ladder_table(data):
    """Markdown of :func:`ladder`'s result: the error of each configuration, then per block and
    clock each configuration's area, power and energy per pair beside the baseline's."""
    spec, errors = data["spec"], data["errors"]
    lines = [f"{spec['fmt']} d={spec['d']}; real-data error at the data's d={data['data_d']} on {data['heads']} heads "
             f"(RMS relative to the float64 softmax).", "", "| block | configuration | RMS rel | max rel | vs the block's "
             "baseline | equal accuracy |", "|---|---|---|---|---|---|"]
    for name, rows in data["blocks"].items():
        names = rows[0]["designs"]
        for n in names:
            e = errors[n]
            ratio = e["rms_rel"] / errors[names[0]]["rms_rel"]
            lines.append(f"| {name} | {_title(rows, n)} | {e['rms_rel']:.4g} | {e['max_rel']:.3g} | {ratio:.2f}x | "
                         f"{'(baseline)' if n == names[0] else _accuracy_verdict(errors, names[0], n)} |")
    for name, rows in data["blocks"].items():
        names = rows[0]["designs"]
        base = names[0]
        lines += ["", f"**{name}** (baseline {_title(rows, base)}); each configuration with the fewest stages and "
                  f"smallest P meeting the clock; {rows[0]['library']}, OpenSTA before placement.", "",
                  "| clock (ns) | configuration | stages / P | area (µm²) | vs baseline | power (mW) | vs baseline | "
                  "energy per pair (pJ) | critical path | loops (ns) |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            for n in names:
                e = r[n]
                pw = e.get("power")
                red = "" if n == base else (f"{r['reductions'][n]:+.1f}%" if r["reductions"][n] is not None else "-")
                pred = "" if n == base else (f"{r['power_reductions'][n]:+.1f}%" if n in r.get("power_reductions", {})
                                              else "-")
                lines.append(f"| {r['clock_ns']:g} | {_title(rows, n)} | {e['stages']} / {e['interleave']} | "
                             f"{e['area']:.0f}{'' if e['met'] else ' (missed)'} | {red} | "
                             f"{pw['total_mw']:.2f} | {pred} | {pw['energy_per_pair_pj']:.0f} | " if pw else
                             f"| {r['clock_ns']:g} | {_title(rows, n)} | {e['stages']} / {e['interleave']} | "
                             f"{e['area']:.0f}{'' if e['met'] else ' (missed)'} | {red} | - | - | - | ")
                cp = e["critical_path"]
                loops = ", ".join(f"{k} {v['critical_ns']:.1f}" for k, v in (e.get("loops") or {}).items() if v)
                lines[-1] += f"{cp['delay_ns']:.1f} ns, {' > '.join(cp['units'])} | {loops} |"
    lines.append(f"\nPaper (28 nm): FLASH-D {PAPER_REDUCTION:+.1f}% area, {PAPER_POWER_REDUCTION:+.1f}% power. "
                 f"Wall time {data['seconds']:.0f} s.")
    return "\n".join(lines)
