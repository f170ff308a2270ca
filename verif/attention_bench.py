"""Engine regressions: random problems, expected rows from the bit-exact model, and a cocotb
driver that streams them (round-robin groups of P rows, random valid gaps, honouring
``ready``) and checks every output row bit for bit and at exactly ``latency`` cycles."""

import json
import os
from pathlib import Path

import numpy as np

from flashd.hdl.attention import build_engine
from flashd.hdl.format import as_format
from flashd.hdl.params import engine_params

from . import model
from .attention_model import run_model
from .bench import pack, seed_from_env, simulate
from .harness import describe_fields

__all__ = ["random_problem", "make_stimulus", "engine_stimulus", "schedule", "drive_engine", "regress_engine", "regress_engines", "regress_netlist"]


def random_problem(fmt, d, n, rows, rng, score_std=2.0):
    """Bit patterns q (rows, d), k and v (rows, n, d): scores q.k with std ~``score_std``
    (some rows 3x wider, so weights saturate), v standard normal."""
    fmt = as_format(fmt)
    wide = np.where(rng.random(rows) < 0.25, 3.0, 1.0)[:, None]
    q = rng.standard_normal((rows, d)) * score_std / np.sqrt(d) * wide
    k = rng.standard_normal((rows, n, d))
    v = rng.standard_normal((rows, n, d))
    return tuple(model.from_float(fmt, x) for x in (q, k, v))


def make_stimulus(engine, groups, rng):
    """Input payloads (stream order) and expected output rows for ``groups``: each entry is
    one group of ``interleave`` rows, either N (random rows of N pairs) or a ``(q, k, v)``
    tuple of bit patterns shaped (P, d), (P, N, d), (P, N, d). Returns a JSON-able dict."""
    p = engine.params
    P, d = p.interleave, p.d
    fields = describe_fields(engine.i.payload.shape())
    problems = [random_problem(p.fmt, d, g, P, rng) if isinstance(g, int) else g for g in groups]
    # The model takes any number of rows at once (rows are independent): one call per key count,
    # not one per group (a whole N = 1024 head was 1024 calls of 1024 steps each).
    expected = [None] * len(problems)
    by_n = {}
    for j, (_, k, _) in enumerate(problems):
        by_n.setdefault(k.shape[1], []).append(j)
    for idx in by_n.values():
        out = run_model(p, *(np.concatenate([problems[j][a] for j in idx]) for a in range(3))).out
        for n_in, j in enumerate(idx):
            expected[j] = out[n_in * P:(n_in + 1) * P]
    expected = [row for rows in expected for row in rows]
    # stream order: pair i of each of the P rows in turn (row r's pair i at position i * P + r)
    cols = {"q": [], "k": [], "v": [], "last": []}
    for q, k, v in problems:
        n = k.shape[1]
        cols["q"].append(np.tile(q, (n, 1)))
        cols["k"].append(k.transpose(1, 0, 2).reshape(n * P, d))
        cols["v"].append(v.transpose(1, 0, 2).reshape(n * P, d))
        cols["last"].append(np.repeat(np.arange(n) == n - 1, P))
    values = {f: np.concatenate(cols[f]).astype(np.uint64) for f in fields}
    ins = pack(fields, values)
    last = np.concatenate(cols["last"]).astype(int).tolist()
    width = p.fmt.width
    outs = [sum(int(x) << (j * width) for j, x in enumerate(row)) for row in expected]
    return {"params": p.as_dict(), "latency": p.latency, "payloads": [str(x) for x in ins.tolist()],
            "last": last, "expected": [str(x) for x in outs],
            "fmt": p.fmt.name, "d": d}


def _decode_row(fmt, d, value):
    mask = (1 << fmt.width) - 1
    return [model.decode(fmt, (value >> (j * fmt.width)) & mask) for j in range(d)]


def schedule(stims, seed, gap):
    """``(offers, limit, tail)`` of an engine bench (the cocotb one and the netlist simulator's):
    per engine, the cycles in which its driver offers the next pair (each refused with
    probability ``gap``, from ``seed``), the cycles after which items still waiting mean a
    ``ready`` stuck low, and the cycles run after the last pair (the latency and a margin)."""
    rng = np.random.default_rng(seed + 1)
    stims = list(stims)
    offers = [rng.random(4 * len(st["payloads"]) + 64) >= gap for st in stims]
    limit = max(4 * len(st["payloads"]) + 10 * st["latency"] + 200 for st in stims)
    return offers, limit, max(st["latency"] for st in stims) + 2


async def drive_engine(dut):
    """cocotb body: reads ``FLASHD_STIM`` (JSON from :func:`make_stimulus`, or ``{"engines":
    {name: stimulus}}`` for engines side by side, :func:`regress_engines`), ``FLASHD_SEED`` and
    ``FLASHD_GAP``; streams the pairs (honouring ``ready``) and checks every output row."""
    import cocotb

    from .stream import InPort, Monitor, OutPort, StreamDriver, run, start

    data = json.loads(Path(os.environ["FLASHD_STIM"]).read_text())
    stims = data["engines"] if "engines" in data else {"": data}      # "": the top is the engine
    offers, limit, tail = schedule(stims.values(), int(os.environ["FLASHD_SEED"]), float(os.environ.get("FLASHD_GAP", "0.2")))
    payloads = {n: [int(x) for x in st["payloads"]] for n, st in stims.items()}
    expected = {n: [int(x) for x in st["expected"]] for n, st in stims.items()}
    pre = {n: f"{n}__" if n else "" for n in stims}
    inputs = [InPort(n or "i", *(getattr(dut, f"{pre[n]}i__{s}") for s in ("valid", "payload", "ready"))) for n in stims]
    await start(dut, inputs)
    driver = StreamDriver(inputs, list(payloads.values()), offers, limit=limit)
    monitor = Monitor([OutPort(n or "o", getattr(dut, f"{pre[n]}o__valid"), getattr(dut, f"{pre[n]}o__payload"))
                       for n in stims], expected=[len(x) for x in expected.values()])
    # every row out, and nothing more
    cycles = await run(dut.clk, driver, monitor, tail=tail)
    lines, fails = [], []
    for k, (n, st) in enumerate(stims.items()):
        f = _check_rows(st, expected[n], monitor.seen[k], driver.accepted[k], cycles)
        lines.append(f"{n + ': ' if n else ''}{len(expected[n])} rows, {len(payloads[n])} pairs, {cycles} cycles, "
                     f"{driver.stalls[k]} stalled offers, {'FAIL' if f else 'ok'}")
        fails += [f"{n + ': ' if n else ''}{x}" for x in f]
    Path(os.environ.get("FLASHD_REPORT", "report.txt")).write_text("\n".join(lines + fails) + "\n")
    cocotb.log.info("\n".join(lines))
    assert not fails, "\n".join(fails[:20])


def _check_rows(stim, expected, got, accepted, cycles):
    """Mismatches of one engine's output rows (values, and latency after each row's last pair)."""
    lat, fmt, d = stim["latency"], as_format(stim["fmt"]), stim["d"]
    accepted_last = [c for c, last in zip(accepted, stim["last"], strict=True) if last]
    fails = []
    if len(got) != len(expected):
        fails.append(f"{len(expected)} rows expected, {len(got)} came out in {cycles} cycles")
    for r, ((c, value), want) in enumerate(zip(got, expected, strict=False)):
        if c - accepted_last[r] != lat:
            fails.append(f"row {r}: output {c - accepted_last[r]} cycles after its last pair, latency says {lat}")
        if value != want:
            bad = [j for j in range(d) if ((value ^ want) >> (j * fmt.width)) & ((1 << fmt.width) - 1)]
            g, w = _decode_row(fmt, d, value), _decode_row(fmt, d, want)
            fails.append(f"row {r}: lanes {bad} differ: " + "; ".join(f"[{j}] rtl {g[j]} model {w[j]}" for j in bad[:4]))
    return fails


def engine_stimulus(design, groups, seed, **params):
    """:func:`make_stimulus` of ``groups`` from ``seed`` for ``design``, as :func:`regress_engine`
    draws it, for a bench that simulates a netlist of the engine, not its Verilog."""
    engine = build_engine(engine_params(design, **params))
    engine._MustUse__used = True        # the netlist stands for it (as in hdl.emit.write_verilog)
    return make_stimulus(engine, groups, np.random.default_rng(seed))


def regress_engine(design, sim, name, groups, *, seed=None, gap=0.2, verilog=None, saif=None, **params):
    """Generate ``design`` with ``params``, simulate ``groups`` (N per group of P rows) on
    ``sim`` and assert every row matches the model bit for bit at the stated latency.
    ``verilog``: simulate this text instead (its top module named ``engine``: a gate-level
    model of the engine's synthesized netlist, :func:`flashd.synth.flow.gate_model`). ``saif``:
    record every net's toggle count there (Verilator)."""
    seed = seed_from_env() if seed is None else seed
    engine = build_engine(engine_params(design, **params))
    stim = make_stimulus(engine, groups, np.random.default_rng(seed))
    env = {"FLASHD_STIM": "{build}/stimulus.json", "FLASHD_GAP": str(gap)}
    return simulate(sim, name, engine, "engine", "flashd.verif.test_engines_rtl", seed, env,
                    engine.params.as_dict(), files={"stimulus.json": json.dumps(stim)}, verilog=verilog, saif=saif)


def regress_engines(sim, name, cases, *, seed=None, gap=0.2):
    """Engines side by side in one simulator build (one Verilator compile for several
    configurations): ``cases`` is ``{name: (design, groups, params)}``; each engine's rows are
    checked as in :func:`regress_engine`. Returns the report (one line per engine)."""
    from .harness import SideBySide
    seed = seed_from_env() if seed is None else seed
    rng = np.random.default_rng(seed)
    engines = {n: build_engine(engine_params(design, **params)) for n, (design, _, params) in cases.items()}
    stim = {n: make_stimulus(engines[n], groups, rng) for n, (_, groups, _) in cases.items()}
    env = {"FLASHD_STIM": "{build}/stimulus.json", "FLASHD_GAP": str(gap)}
    return simulate(sim, name, SideBySide(engines), "engines", "flashd.verif.test_engines_rtl", seed, env,
                    {n: e.params.as_dict() for n, e in engines.items()},
                    files={"stimulus.json": json.dumps({"engines": stim})})


def regress_netlist(design, sim, name, groups, *, library, clock_ns=None, seed=None, mutate=None, **params):
    """Synthesize ``design`` (:func:`flashd.synth.report.engine_report`: the netlist whose area
    and timing are reported), simulate its gate-level model (each cell's logic from the
    library) like the RTL, bit-exact against the model. ``mutate(text) -> text`` edits the
    netlist first (to check that a wrong netlist fails). Returns ``(report, engine report)``."""
    from flashd.synth.flow import gate_model
    from flashd.synth.report import engine_report
    rep = engine_report(design, library=library, clock_ns=clock_ns, **params)
    netlist = Path(rep["netlist"])
    if mutate is not None:
        netlist = Path(os.environ.get("FLASHD_BUILD", netlist.parent)) / f"{name}_mutated.v"
        netlist.write_text(mutate(Path(rep["netlist"]).read_text()))
    gates = gate_model(netlist, rep["top"], library, "engine")
    return regress_engine(design, sim, name, groups, seed=seed, verilog=gates, **params), rep
