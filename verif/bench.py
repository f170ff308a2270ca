"""Operator regressions: expected results from the golden model, a cocotb driver that
streams vectors into every unit of a :class:`~flashd.verif.harness.Harness` at once, and
:func:`regress`, the one entry point that builds, simulates and checks.
"""

import json
import os
import time
from pathlib import Path

import numpy as np

from flashd.hdl.emit import write_verilog

from . import model
from .harness import Harness
from .registry import OpSpec
from .sim import BUILD_ROOT, run_cocotb, verbose

__all__ = ["seed_from_env", "drive_and_check", "simulate", "regress"]


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


async def drive_and_check(dut):
    """cocotb body: stream every unit's vectors (random valid gaps) and check them.

    Reads ``FLASHD_DESC`` (the harness JSON), ``FLASHD_SEED``, ``FLASHD_COUNT``,
    ``FLASHD_EXHAUSTIVE`` and ``FLASHD_GAP`` from the environment that :func:`regress` sets.
    """
    import cocotb

    from .stream import InPort, Monitor, OutPort, StreamDriver, run, start

    units = json.loads(Path(os.environ["FLASHD_DESC"]).read_text())
    seed = int(os.environ["FLASHD_SEED"])
    count = int(os.environ["FLASHD_COUNT"])
    exhaustive = os.environ.get("FLASHD_EXHAUSTIVE", "0")       # "1", "0" or the units' names
    gap = float(os.environ.get("FLASHD_GAP", "0.1"))
    rng = np.random.default_rng(seed)
    cocotb.log.info("seed %d (set FLASHD_SEED=%d to reproduce), %d units", seed, seed, len(units))
    ins, exp, items, offers = [], [], [], []
    for u in units:
        spec = OpSpec.from_dict(u)
        ins.append(spec.inputs(count, rng, exhaustive == "1" or u["name"] in exhaustive.split(",")))
        exp.append(spec.expected(ins[-1]))
        items.append(pack(u["inputs"], ins[-1]).tolist())
        offers.append(rng.random(len(items[-1]) + int(len(items[-1]) * gap * 3) + 16) >= gap)
        cocotb.log.info("%s: %d vectors, latency %d", u["name"], len(items[-1]), u["latency"])
    inputs = [InPort(u["name"], getattr(dut, f"{u['name']}__i__valid"), getattr(dut, f"{u['name']}__i__payload"))
              for u in units]
    outputs = [OutPort(u["name"], getattr(dut, f"{u['name']}__o__valid"), getattr(dut, f"{u['name']}__o__payload"))
               for u in units]
    await start(dut, inputs)
    driver, monitor = StreamDriver(inputs, items, offers), Monitor(outputs, [len(x) for x in items])
    t0 = time.time()
    cycles = await run(dut.clk, driver, monitor, tail=max(u["latency"] for u in units) + 2)
    cocotb.log.info("%d cycles in %.1f s", cycles, time.time() - t0)

    fails, summary = [], []
    for k, u in enumerate(units):
        seen = monitor.seen[k]
        f = check_unit(u, ins[k], exp[k], [c for c, _ in seen], [v for _, v in seen], driver.accepted[k])
        fails += f
        summary.append(f"{u['name']}: {len(items[k])} vectors, {'FAIL' if f else 'ok'}")
    report = "\n".join(summary + fails)
    Path(os.environ.get("FLASHD_REPORT", "report.txt")).write_text(report + "\n")
    cocotb.log.info("\n%s", report)
    assert not fails, f"{len(fails)} problems (seed {seed}):\n" + "\n".join(fails[:40])


def simulate(sim, name, component, toplevel, test_module, seed, env, sidecar, files=None, verilog=None, saif=None):
    """The one runner path of every regression: write ``component``'s Verilog (or ``verilog``,
    e.g. a gate-level model of its netlist, whose top is ``toplevel``) and ``files`` (``{name:
    text}``) into ``build/<sim>/<name>``, run the cocotb ``test_module`` with ``env`` (plus the
    seed and report path), and assert it passed. Returns the report. ``saif``: write every
    net's toggle count there (Verilator)."""
    build = BUILD_ROOT / sim / name
    vpath = write_verilog(component, toplevel, build, sidecar=sidecar, text=verilog)
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
    assert n_tests >= 1 and n_failed == 0, (f"[{sim}:{name}] seed {seed}: {n_failed} of {n_tests} cocotb tests failed; "
                                            f"full log {log}; to rerun this case with a waveform: FLASHD_SEED={seed} "
                                            f"FLASHD_WAVES=1 and the same command (flashd: --seed {seed} --waves)\n{text}")
    return text


def regress(specs, sim, name, *, count=2000, exhaustive=False, seed=None, gap=0.1):
    """Build a harness of ``specs`` (``{port name: OpSpec}``), simulate it on ``sim`` and assert every unit matches
    the golden model bit for bit with its stated latency. ``exhaustive``: True, False or the names of
    the units that get every input (pair) their format allows. Returns the report text."""
    seed = seed_from_env() if seed is None else seed
    harness = Harness(specs)
    flag = ("1" if exhaustive else "0") if isinstance(exhaustive, bool) else ",".join(sorted(exhaustive)) or "0"
    env = {"FLASHD_DESC": "{build}/harness.json", "FLASHD_COUNT": str(count), "FLASHD_EXHAUSTIVE": flag,
           "FLASHD_GAP": str(gap)}
    return simulate(sim, name, harness, "harness", "flashd.verif.test_ops_rtl", seed, env, harness.description())
