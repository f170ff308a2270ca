"""Operator regressions: expected results from the golden model, the check of one unit's
outputs, and :func:`regress`, the one entry point that builds, simulates and checks (the
cocotb driver that streams vectors into every unit of a
:class:`~flashd.verif.harness.Harness` at once is in :mod:`flashd.verif.test_ops_rtl`).
"""

import os

import numpy as np

from flashd.hdl.emit import write_text, write_verilog

from . import model
from .cache import cache_dir
from .harness import Harness
from .registry import OpSpec
from .sim import run_cocotb, verbose

__all__ = ["RegressionFailed", "seed_from_env", "pack", "unpack_fields", "check_unit", "simulate", "regress"]


class RegressionFailed(Exception):
    """A simulated design did not match the golden model (the message says where); the
    command line exits 1 for it."""


def seed_from_env(default=2026):
    """``FLASHD_SEED`` if set (to reproduce a run), else ``default``."""
    return int(os.environ.get("FLASHD_SEED", default))


def pack(fields, values):
    """Payload integers from field arrays; ``fields`` is ``{name: [offset, width, count]}``."""
    total = None
    for name, (offset, width, count) in fields.items():
        v = np.asarray(values[name], dtype=np.uint64).reshape(-1, count)
        if width < 64 and (v >> np.uint64(width)).any():
            raise ValueError(f"field {name!r}: a value does not fit its {width} bits (stimulus bug)")
        for j in range(count):
            part = v[:, j].astype(object) << (offset + j * width)
            total = part if total is None else total | part
    return total


def unpack_fields(fields, payloads):
    out = {}
    for name, (offset, width, count) in fields.items():
        out[name] = np.array([(p >> offset) & ((1 << (width * count)) - 1) for p in payloads],
                             dtype=object)
    return {k: np.array(v.tolist(), dtype=np.uint64) for k, v in out.items()}


def _describe(fmt, v):
    return model.decode(fmt, v) if fmt is not None else str(int(v))


def check_unit(unit, ins, exp, got_cycles, got_payloads, sent_cycles, max_report=8):
    """Compare one unit's outputs and timing; return a list of failure lines (empty: pass)."""
    name, lat = unit["name"], unit["latency"]
    fails = []
    if len(got_payloads) != len(sent_cycles):
        return [f"{name}: {len(sent_cycles)} inputs but {len(got_payloads)} outputs"]
    delays = np.asarray(got_cycles) - np.asarray(sent_cycles)
    if len(delays) and not np.all(delays == lat):
        k = int(np.argmax(delays != lat))
        fails.append(f"{name}: output {k} came {delays[k]} cycles after its input, latency says {lat}")
    got = unpack_fields(unit["outputs"], got_payloads)
    fmts = OpSpec.from_dict(unit).field_formats()
    bad = np.zeros(len(sent_cycles), dtype=bool)
    for f in unit["outputs"]:
        bad |= got[f] != np.asarray(exp[f], dtype=np.uint64)
    for k in np.flatnonzero(bad)[:max_report]:
        operands = ", ".join(
            f"{f}=" + (_describe(fmts.get(f), ins[f][k]) if np.ndim(ins[f][k]) == 0 else
                       "[" + ", ".join(_describe(fmts.get(f), x) for x in ins[f][k]) + "]")
            for f in ins)
        diffs = "; ".join(f"{f}: rtl {_describe(fmts.get(f), got[f][k])} model {_describe(fmts.get(f), exp[f][k])}"
                          for f in unit["outputs"] if got[f][k] != exp[f][k])
        fails.append(f"{name} vector {k}: {operands} -> {diffs}")
    if bad.any():
        fails.append(f"{name}: {int(bad.sum())} of {len(bad)} vectors differ")
    return fails


def simulate(sim, name, component, toplevel, test_module, seed, env, sidecar, files=None, verilog=None, saif=None):
    """The one runner path of every regression: write ``component``'s Verilog (or ``verilog``,
    e.g. a gate-level model of its netlist, whose top is ``toplevel``; then ``component`` is
    None) and ``files`` (``{name: text}``) into ``<cache>/<sim>/<name>``, run the cocotb
    ``test_module`` with ``env`` (plus the seed and report path; ``{build}`` in a value is the
    build directory); :class:`RegressionFailed` unless every cocotb test passed. Returns the
    build directory (``report.txt`` in it). ``saif``: write every net's toggle count there
    (Verilator)."""
    build = cache_dir() / sim / name
    if verilog is None:
        vpath = write_verilog(component, toplevel, build, sidecar=sidecar)
    else:
        vpath = write_text(verilog, toplevel, build, sidecar=sidecar)
    for fname, text in (files or {}).items():
        (build / fname).write_text(text)
    report = build / "report.txt"
    report.unlink(missing_ok=True)
    env = {**{k: v.format(build=build) for k, v in env.items()}, "FLASHD_SEED": str(seed),
           "FLASHD_REPORT": str(report)}
    if verbose():
        print(f"[{sim}:{name}] seed {seed} (FLASHD_SEED={seed} reproduces), build dir {build}")
    n_tests, n_failed = run_cocotb(sim, vpath, toplevel, test_module, build, env, saif=saif)
    log = "the simulator output above" if verbose() else build / "sim.log"
    text = report.read_text() if report.exists() else f"(no report written: see {log})"
    if n_tests < 1 or n_failed:
        raise RegressionFailed(f"[{sim}:{name}] seed {seed}: {n_failed} of {n_tests} cocotb tests failed; full log {log}; "
                               f"to rerun this case with a waveform: FLASHD_SEED={seed} FLASHD_WAVES=1 and the same "
                               f"command (flashd: --seed {seed} --waves)\n{text}")
    return build


def regress(specs, sim, name, *, count=2000, exhaustive=False, seed=None, gap=0.1):
    """Build a harness of ``specs`` (``{port name: OpSpec}``), simulate it on ``sim``; every unit must match
    the golden model bit for bit with its stated latency (else :class:`RegressionFailed`). ``exhaustive``: True, False or the names of
    the units that get every input (pair) their format allows. Returns the report text."""
    seed = seed_from_env() if seed is None else seed
    harness = Harness(specs)
    flag = ("1" if exhaustive else "0") if isinstance(exhaustive, bool) else ",".join(sorted(exhaustive)) or "0"
    env = {"FLASHD_DESC": "{build}/harness.json", "FLASHD_COUNT": str(count), "FLASHD_EXHAUSTIVE": flag,
           "FLASHD_GAP": str(gap)}
    build = simulate(sim, name, harness, "harness", "flashd.verif.test_ops_rtl", seed, env, harness.description())
    return (build / "report.txt").read_text()
