"""Cell libraries: which Liberty file a synthesis uses, prepared once for Yosys and OpenSTA.

Three ways to name one (:func:`library`):

- nothing: the built-in GE library (:mod:`flashd.synth.liberty`), the technology-independent
  view: NAND2-equivalent areas, no timing;
- ``pdk="sky130"``: SkyWater's ``sky130_fd_sc_hd`` typical corner, shipped in
  ``synth/pdk/`` with its licence. Another corner, or another PDK (``gf180mcu``,
  ``ihp-sg13g2``), is found under ``$PDK_ROOT`` in the open_pdks layout that
  OpenLane, volare and ciel install (``$PDK_ROOT/sky130A/libs.ref/sky130_fd_sc_hd/lib/``);
- ``liberty=[files]``: any Liberty files (``.lib`` or ``.lib.gz``; several are merged).

A :class:`Library` is one prepared file under ``build/synth/lib`` (decompressed, merged, the
PDK's do-not-use cells marked), its units as the library states them, and a digest that the
synthesis cache keys on.
"""

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from flashd.verif.cache import cache_dir, unique_name

from .liberty import LibertyError, features, prepare, read_cells, read_text, units, write_liberty

__all__ = ["PDKS", "Library", "library", "LibraryError", "SHIPPED"]

SHIPPED = Path(__file__).resolve().parent / "pdk"


def _lib_dir():
    return cache_dir() / "synth" / "lib"


class LibraryError(ValueError):
    """A library that cannot be found or used; the message names the option and the path."""


@dataclass(frozen=True)
class PDK:
    """Where open_pdks puts a PDK's standard-cell Liberty files, and what synthesis must not use."""
    variants: tuple             # directories under $PDK_ROOT, first found wins
    cells: str                  # the standard-cell library
    pattern: str                # file name, {cells} and {corner} substituted
    corner: str                 # the default corner
    dont_use: tuple = ()        # cell-name globs marked dont_use
    shipped: tuple = ()         # corners shipped in synth/pdk/<cells>/

    def candidates(self, root, corner):
        name = self.pattern.format(cells=self.cells, corner=corner)
        return [Path(root) / v / "libs.ref" / self.cells / "lib" / (name + ext)
                for v in self.variants for ext in ("", ".gz")]


# Do-not-use lists: OpenROAD-flow-scripts' platform lists (sky130hd: probe and lpflow cells,
# or ABC maps logic onto isolation cells; ihp-sg13g2: the signal-hold and clock-gate cells).
PDKS = {
    "sky130": PDK(("sky130A", "sky130B"), "sky130_fd_sc_hd", "{cells}__{corner}.lib", "tt_025C_1v80",
                  ("sky130_fd_sc_hd__probe*", "sky130_fd_sc_hd__lpflow_*"), ("tt_025C_1v80",)),
    "gf180mcu": PDK(("gf180mcuD", "gf180mcuC", "gf180mcuB", "gf180mcuA"), "gf180mcu_fd_sc_mcu7t5v0",
                    "{cells}__{corner}.lib", "tt_025C_5v00"),
    "ihp-sg13g2": PDK(("ihp-sg13g2",), "sg13g2_stdcell", "{cells}_{corner}.lib", "typ_1p20V_25C",
                      ("sg13g2_sighold", "sg13g2_lgcp_1", "sg13g2_slgcp_1")),
}


@dataclass(frozen=True)
class Library:
    name: str                   # e.g. "sky130_fd_sc_hd tt_025C_1v80", "GE"
    path: Path                  # the prepared Liberty file Yosys and OpenSTA read
    sources: tuple              # the files it was made from
    units: dict = field(hash=False, compare=False)      # area, time, leakage, capacitance, voltage
    digest: str = ""            # of the prepared text: the synthesis cache key
    timing: bool = False        # has delay tables (the GE library has none)
    power: bool = False         # has internal power tables
    wire_load: str = None       # its default wire-load model

    @property
    def area_unit(self):
        return self.units["area"]

    @property
    def time_unit(self):
        return self.units["time"]

    def cells(self):
        return read_cells(str(self.path))

    def driver(self):
        """The smallest buffer synthesis may use: the driving cell of ABC's constraints."""
        bufs = [(c.area, n) for n, c in self.cells().items() if c.buffer and not c.dont_use]
        if not bufs:
            raise LibraryError(f"{self.name}: no buffer cell (one input, function equal to it) in {self.path}")
        return min(bufs)[1]

    def as_dict(self):
        return {"name": self.name, "sources": [str(s) for s in self.sources], "units": self.units,
                "timing": self.timing}


def _store(name, text):
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = _lib_dir() / f"{name}-{digest}.lib"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(unique_name(path.name) + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)               # atomic: parallel sweeps may prepare the same library
    return path, digest


@lru_cache(maxsize=8)
def _prepared(files, dont_use, name):
    texts = []
    for f in files:
        try:
            texts.append(read_text(f))
        except (OSError, EOFError) as e:        # EOFError: a truncated .gz
            raise LibraryError(f"--liberty {f}: cannot be read ({getattr(e, 'strerror', None) or e})") from None
    try:
        text = prepare(texts, dont_use, [str(f) for f in files])
        lib_units = units(text, files[0])
    except LibertyError as e:
        raise LibraryError(f"--liberty: {e}") from None
    path, digest = _store(name.replace(" ", "_"), text)
    return Library(name, path, files, lib_units, digest, **features(text))


def _ge():
    path = write_liberty(_lib_dir() / "flashd_ge.lib")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return Library("GE", path, (), {"area": "GE", "time": None, "leakage": None, "capacitance": None,
                                    "voltage": None}, digest, timing=False)


def _pdk_files(pdk, corner):
    if pdk not in PDKS:
        raise LibraryError(f"--pdk {pdk!r}: not known (allowed: {', '.join(PDKS)}; or --liberty FILE)")
    spec = PDKS[pdk]
    corner = corner or spec.corner
    root = os.environ.get("PDK_ROOT")
    if root:
        for path in spec.candidates(root, corner):
            if path.is_file():
                return spec, corner, (path,)
    if corner in spec.shipped:
        return spec, corner, (SHIPPED / spec.cells / (spec.pattern.format(cells=spec.cells, corner=corner) + ".gz"),)
    looked = spec.candidates(root or "$PDK_ROOT", corner)[0]
    shipped = f" (shipped: {', '.join(spec.shipped)})" if spec.shipped else ""
    why = "PDK_ROOT is not set" if not root else f"{looked} (or .gz) does not exist"
    raise LibraryError(f"--pdk {pdk} --corner {corner}: {why}; this library is looked for at {looked}{shipped}. "
                       f"Install it with open_pdks/volare/ciel and set PDK_ROOT, or give --liberty FILE")


def library(pdk=None, corner=None, liberty=None):
    """The :class:`Library` named by ``pdk`` (+ ``corner``) or ``liberty`` (a path or a list
    of paths), or the GE library when neither is given. Errors name the option and path."""
    if liberty and pdk:
        raise LibraryError("--pdk and --liberty: give one of them")
    if corner and not pdk:
        raise LibraryError(f"--corner {corner}: needs --pdk (a --liberty file is one corner already)")
    if liberty:
        files = (liberty,) if isinstance(liberty, (str, Path)) else tuple(liberty)
        files = tuple(Path(f).resolve() for f in files)
        for f in files:
            if not f.is_file():
                raise LibraryError(f"--liberty {f}: no such file")
        return _prepared(files, (), files[0].name.split(".")[0] if len(files) == 1 else "merged")
    if pdk is None:
        return _ge()
    spec, corner, files = _pdk_files(pdk, corner)
    return _prepared(files, spec.dont_use, f"{spec.cells} {corner}")
