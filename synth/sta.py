"""Static timing with OpenSTA (Debian's ``opensta``, binary ``sta``) of a hierarchical netlist.

The netlist is the one :func:`flashd.synth.flow.synth_design` assembles (the glue and one
module per distinct unit); ``link_design`` flattens it, so paths that cross units are timed.
One ideal clock on ``clk``; inputs arrive and outputs are required at the clock edge (input
and output delay 0), so a path from a port counts like one from a register. Pre-placement:
wires are the library's default wire-load model (sky130: "Small"), no clock tree.

Times in the report are in ns whatever the library's unit (ASAP7's ps are converted once,
here). ``critical_ns`` is the smallest period at which the worst path meets setup (the clock
period minus the worst slack); ``fmax_mhz`` is its inverse.
"""

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from flashd.verif.cache import unique_name

__all__ = ["find_sta", "sta_version", "StaError", "Path_", "TimingReport", "run_sta", "unit_slacks", "run_cached"]

_SCALE = {"ns": 1.0, "ps": 1e-3, "us": 1e3}         # library time unit -> ns


class StaError(RuntimeError):
    """OpenSTA failed or read only part of the netlist; the message names the log file."""


def find_sta():
    exe = shutil.which("sta")
    if exe is None:
        raise StaError("sta (OpenSTA) not found: run `make setup` (installs Debian's opensta with apt)")
    return exe


@functools.cache
def sta_version():
    """OpenSTA's version (part of every cache key)."""
    return subprocess.run([find_sta(), "-version"], capture_output=True, text=True).stdout.strip()


@dataclass
class Path_:
    start: str
    end: str
    delay_ns: float                 # data arrival at the endpoint
    slack_ns: float
    units: list                     # top-level instances the path crosses, in order ("(top level)": glue)


@dataclass
class TimingReport:
    clock_ns: float
    critical_ns: float              # clock period - worst slack: the smallest period that meets timing
    wns_ns: float                   # worst slack, negative when the clock is missed
    tns_ns: float
    fmax_mhz: float
    met: bool
    critical_path: dict
    loops: dict = field(default_factory=dict)       # loop name -> worst path around it
    wire_load: str = None
    seconds: float = 0.0            # OpenSTA's run time (when the report was made)
    cached: bool = False

    def as_dict(self):
        return asdict(self)


_POINT = re.compile(r"^\s*(-?[0-9.]+)\s+(-?[0-9.]+)\s+[v^]\s+(\S+)\s+\(([^)]*)\)", re.M)


def _parse_path(text, scale):
    """One ``report_checks`` path: start, end, arrival, slack and the units crossed."""
    start = re.search(r"^Startpoint:\s*(\S+)", text, re.M)
    end = re.search(r"^Endpoint:\s*(\S+)", text, re.M)
    arrival = re.search(r"^\s*(-?[0-9.]+)\s+data arrival time", text, re.M)
    slack = re.search(r"^\s*(-?[0-9.]+)\s+slack \((MET|VIOLATED)\)", text, re.M)
    if not (start and end and arrival and slack):
        return None
    units = []
    for m in _POINT.finditer(text):
        pin = m.group(3)
        unit = pin.split("/")[0].removesuffix(".unit") if pin.count("/") >= 2 else "(top level)"   # StandIn's instance
        if not units or units[-1] != unit:
            units.append(unit)
    return Path_(start.group(1), end.group(1), round(float(arrival.group(1)) * scale, 4),
                 round(float(slack.group(1)) * scale, 4), units)


def run_sta(netlist, top, library, clock_ns, *, loops=None, work=None, clocked=True):
    """Time ``top`` in ``netlist`` at ``clock_ns``; ``loops`` is ``{name: (state register
    names)}``: for each loop-carried recurrence, the worst path ending at its state register
    (flip-flops ``<name>*_reg``; with P = 1 that is the whole recurrence, with P > 1 its last
    segment; a loop whose registers Yosys named otherwise is left out of ``loops``).
    ``clocked=False``: a combinational module, timed from inputs to outputs against a virtual
    clock. Returns a :class:`TimingReport`; the log is kept in ``work``."""
    scale = _SCALE.get(library.time_unit)
    if scale is None:
        raise StaError(f"{library.name}: time unit {library.time_unit!r} not supported (ns, ps, us)")
    period = clock_ns / scale
    work = Path(work or Path(netlist).with_suffix(".sta"))
    work.mkdir(parents=True, exist_ok=True)
    # the netlist's name holds its synthesis key (library, clock, every unit): cache by it and the question
    key = hashlib.sha256(repr((sta_version(), Path(netlist).read_bytes(), library.digest, clock_ns, sorted((loops or {}).items()),
                               clocked,
                               [f.name for f in fields(TimingReport)]))      # a report of another shape is not reused
                         .encode()).hexdigest()[:16]
    cached = work / f"timing-{key}.json"
    if cached.is_file():
        return TimingReport(**{**json.loads(cached.read_text()), "cached": True})
    lines = [f"read_liberty {library.path}", f"read_verilog {netlist}", f"link_design {top}",
             f"create_clock -name clk -period {period}" + (" [get_ports clk]" if clocked else ""),
             "set_input_delay 0 -clock clk " + ("[delete_from_list [all_inputs] [get_ports clk]]" if clocked else "[all_inputs]"),
             "set_output_delay 0 -clock clk [all_outputs]",
             "puts \"@@ worst\"", "report_checks -path_delay max -digits 4",
             "puts \"@@ tns\"", "report_tns -digits 4"]
    for name, states in (loops or {}).items():
        cells = " ".join(f"{s}*_reg" for s in states)
        # -quiet: Yosys may name a state register after the unit port it feeds (no path is then reported)
        lines += [f"puts \"@@ loop {name}\"", f"set state [get_cells -quiet {{{cells}}}]",
                  "if {[llength $state]} { report_checks -path_delay max -digits 4 -to $state }"]
    run = unique_name(f"run-{key}")          # two hosts may time the same netlist at once
    (work / f"{run}.tcl").write_text("\n".join(lines + ["exit", ""]))
    t = time.time()
    proc = subprocess.run([find_sta(), "-no_splash", "-exit", f"{run}.tcl"], cwd=work, capture_output=True, text=True)
    log = work / f"{run}.sta.log"
    log.write_text(proc.stdout + proc.stderr)
    errors = [ln for ln in (proc.stdout + proc.stderr).splitlines() if re.match(r"\s*(Error|error)", ln)]
    if proc.returncode != 0 or errors:
        raise StaError(f"OpenSTA failed on {netlist} (exit {proc.returncode}); log kept at {log}:\n"
                       + "\n".join((errors or proc.stderr.splitlines())[:5]))
    sections = dict(re.findall(r"^@@ (.*)\n((?:(?!^@@ ).*\n?)*)", proc.stdout, re.M))
    worst = _parse_path(sections.get("worst", ""), scale)
    if worst is None:
        raise StaError(f"OpenSTA reported no constrained path in {top} (log: {log})")
    tns = re.search(r"tns\s+(-?[0-9.]+)", sections.get("tns", ""))
    critical = round(clock_ns - worst.slack_ns, 4)
    loop_paths = {}
    for name, states in (loops or {}).items():
        p = _parse_path(sections.get(f"loop {name}", ""), scale)
        if p is None:
            continue                # not found by name: the worst path still covers it
        loop_paths[name] = {**asdict(p), "state": list(states), "critical_ns": round(clock_ns - p.slack_ns, 4)}
    report = TimingReport(clock_ns=clock_ns, critical_ns=critical, wns_ns=round(worst.slack_ns, 4),
                          tns_ns=round(float(tns.group(1)) * scale, 4) if tns else 0.0,
                          fmax_mhz=round(1000.0 / critical, 2) if critical > 0 else float("inf"),
                          met=worst.slack_ns >= 0, critical_path=asdict(worst), loops=loop_paths,
                          wire_load=library.wire_load,
                          seconds=round(time.time() - t, 2))
    cached.write_text(json.dumps(report.as_dict()))
    return report


def unit_slacks(units, library, clock_ns, work):
    """Worst slack (ns) of each unit netlist on its own, in one OpenSTA session: ``units`` is
    ``{module: (netlist path, clocked)}``; inputs arrive and outputs are required at the clock
    edge (a virtual clock for a combinational unit). A unit that misses the clock alone makes
    every design that contains it miss too (its paths only get longer in place). Returns
    ``{module: slack or None}`` (None: no constrained path)."""
    scale = _SCALE[library.time_unit]
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    lines = [f"read_liberty {library.path}"]
    for module, (netlist, clocked) in units.items():
        lines += [f"read_verilog {netlist}", f"link_design {module}",
                  f"create_clock -name clk -period {clock_ns / scale}" + (" [get_ports clk]" if clocked else ""),
                  "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]" if clocked
                  else "set_input_delay 0 -clock clk [all_inputs]",
                  "set_output_delay 0 -clock clk [all_outputs]",
                  f"puts \"@@ {module}\"", "report_checks -path_delay max -digits 4"]
    stdout = run_cached("\n".join(lines + ["exit", ""]), work, "units", library, "the unit netlists")
    sections = dict(re.findall(r"^@@ (.*)\n((?:(?!^@@ ).*\n?)*)", stdout, re.M))
    out = {}
    for module in units:
        p = _parse_path(sections.get(module, ""), scale)
        out[module] = None if p is None else p.slack_ns
    return out


def run_cached(script, work, prefix, library, label, inputs=""):
    """Run an OpenSTA ``script`` in ``work``, its files named by content (script, library,
    ``inputs``: the text of files it reads under stable names). The same content is the same
    answer, and parallel runs never share a file. Returns stdout; errors raise StaError naming
    the kept log."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    stem = f"{prefix}-" + hashlib.sha256((sta_version() + script + library.digest + inputs).encode()).hexdigest()[:16]
    log = work / f"{stem}.log"
    if not log.is_file():
        (work / f"{stem}.tcl").write_text(script)
        proc = subprocess.run([find_sta(), "-no_splash", "-exit", f"{stem}.tcl"], cwd=work, capture_output=True,
                              text=True)
        errors = [ln for ln in (proc.stdout + proc.stderr).splitlines() if re.match(r"\s*(Error|error)", ln)]
        if proc.returncode != 0 or errors:
            (work / f"{stem}.failed.log").write_text(proc.stdout + proc.stderr)
            raise StaError(f"OpenSTA failed on {label} (exit {proc.returncode}); log kept at "
                           f"{work / (stem + '.failed.log')}:\n" + "\n".join((errors or proc.stderr.splitlines())[:5]))
        tmp = log.with_name(unique_name(log.name) + ".tmp")
        tmp.write_text(proc.stdout)
        os.replace(tmp, log)
    return log.read_text()
