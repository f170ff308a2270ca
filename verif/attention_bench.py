"""The engine bench, shared by the cocotb benches and the netlist simulator
(:mod:`flashd.synth.netbench`): random problems, the stimulus (payloads in stream order and
the expected rows from the bit-exact model), the driver's schedule, and the row check that
returns a :class:`BenchResult` (rows, pairs, cycles, stalls, mismatches). The cocotb driver
(:mod:`flashd.verif.test_engines_rtl`) streams the pairs (round-robin groups of P rows, random valid gaps, honouring ``ready``) and
checks every output row bit for bit and at exactly the design's latency."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flashd.hdl.attention import input_layout
from flashd.hdl.emit import describe_fields
from flashd.hdl.format import as_format

from . import model
from .bench import RegressionFailed, pack, seed_from_env, simulate
from .designs import design, design_of, engine_params, run_model
from .harness import SideBySide

__all__ = ["random_problem", "make_stimulus", "schedule", "check_rows", "BenchResult",
           "regress_engine", "regress_engines"]


@dataclass
class BenchResult:
    """One engine's run on a bench: ``mismatches`` lists what differed (empty: every row
    matched the model bit for bit and came out at the stated latency)."""
    rows: int
    pairs: int
    cycles: int
    stalls: int
    mismatches: list = field(default_factory=list)
    name: str = ""

    @property
    def ok(self):
        return not self.mismatches

    def __str__(self):
        return (f"{self.name + ': ' if self.name else ''}{self.rows} rows, {self.pairs} pairs, {self.cycles} cycles, "
                f"{self.stalls} stalled offers, {'ok' if self.ok else 'FAIL'}")

    def report(self, limit=20):
        """The summary line and the first ``limit`` mismatches."""
        return "\n".join([str(self)] + [f"{self.name + ': ' if self.name else ''}{m}" for m in self.mismatches[:limit]])

    def check(self):
        """Raise :class:`~flashd.verif.bench.RegressionFailed` when a row differed; return self."""
        if not self.ok:
            raise RegressionFailed(self.report())
        return self


def random_problem(fmt, d, n, rows, rng, score_std=2.0):
    """Bit patterns q (rows, d), k and v (rows, n, d): scores q.k with std ~``score_std``
    (some rows 3x wider, so weights saturate), v standard normal."""
    fmt = as_format(fmt)
    wide = np.where(rng.random(rows) < 0.25, 3.0, 1.0)[:, None]
    q = rng.standard_normal((rows, d)) * score_std / np.sqrt(d) * wide
    k = rng.standard_normal((rows, n, d))
    v = rng.standard_normal((rows, n, d))
    return tuple(model.from_float(fmt, x) for x in (q, k, v))


def make_stimulus(p, groups, rng):
    """Input payloads (stream order) and expected output rows of the engine ``p`` (its
    parameter object) for ``groups``: each entry is one group of ``interleave`` rows, either N
    (random rows of N pairs) or a ``(q, k, v)`` tuple of bit patterns shaped (P, d), (P, N, d),
    (P, N, d). Returns a JSON-able dict (the engine's latency in it). Builds no hardware."""
    P, d = p.interleave, p.d
    fields = describe_fields(input_layout(p))
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
    return {"params": p.as_dict(), "latency": design_of(p).latency(p), "payloads": [str(x) for x in ins.tolist()],
            "last": last, "expected": [str(x) for x in outs],
            "fmt": p.fmt.name, "d": d, "out_lanes": p.out_lanes, "buffers": p.out_buffers}


def _decode_row(fmt, d, value):
    mask = (1 << fmt.width) - 1
    return [model.decode(fmt, (value >> (j * fmt.width)) & mask) for j in range(d)]


def _beats(stim):
    return stim["d"] // stim["out_lanes"] if stim.get("out_lanes") else 0


def schedule(stims, seed, gap, out_gap=0.0):
    """``(offers, takes, limit, tail)`` of an engine bench (the cocotb one and the netlist
    simulator's): per engine, the cycles in which its driver offers the next pair (each
    refused with probability ``gap``, from ``seed``) and those in which a streamed output
    (``out_lanes``) is taken (each refused with probability ``out_gap``; None: no ready),
    the cycles after which items still waiting mean a ``ready`` stuck low, and the cycles run
    after the last pair (the latency, the buffered rows' beats, and a margin)."""
    rng = np.random.default_rng(seed + 1)
    stims = list(stims)
    offers = [rng.random(4 * len(st["payloads"]) + 64) >= gap for st in stims]
    takes = [rng.random(997) >= out_gap if _beats(st) else None for st in stims]
    drain = max(int(4 * ((st.get("buffers") or 0) + 1) * _beats(st) / (1 - out_gap)) for st in stims) if stims else 0
    limit = max(4 * len(st["payloads"]) + 10 * st["latency"] + 200 + drain for st in stims)
    return offers, takes, limit, max(st["latency"] for st in stims) + 2 + drain


def _rows_of_beats(stim, got, accepted_last, backpressure, fails):
    """A streamed output's beats ``got`` (``[(cycle, {data, last})]``) as ``[(cycle of the
    first beat, row value)]``; ``fails`` hears of a wrong ``last`` flag, a row's beats apart
    (without ``backpressure``), or a row early: its first beat comes ``latency`` cycles after
    its last pair, or (a buffered row) ``d/k`` cycles after the row before it."""
    beats, fmt = _beats(stim), as_format(stim["fmt"])
    width = stim["out_lanes"] * fmt.width
    rows, prev = [], None
    for r in range(len(got) // beats):
        chunk = got[r * beats:(r + 1) * beats]
        flags = [value >> width for _, value in chunk]
        if flags != [0] * (beats - 1) + [1]:
            fails.append(f"row {r}: beat last flags {flags}")
        cycles = [c for c, _ in chunk]
        if not backpressure and cycles != list(range(cycles[0], cycles[0] + beats)):
            fails.append(f"row {r}: beats in cycles {cycles}, not back to back")
        if r < len(accepted_last):
            due = max(accepted_last[r] + stim["latency"], prev + beats if prev is not None else 0)
            if cycles[0] < due or (not backpressure and cycles[0] != due):
                fails.append(f"row {r}: first beat {cycles[0] - accepted_last[r]} cycles after its last pair, "
                             f"due {due - accepted_last[r]} (latency {stim['latency']})")
        prev = cycles[0]
        rows.append((cycles[0], sum((value & ((1 << width) - 1)) << (b * width) for b, (_, value) in enumerate(chunk))))
    if len(got) % beats:
        fails.append(f"{len(got)} beats: not whole rows of {beats}")
    return rows


def check_rows(stim, got, accepted, cycles, stalls, name="", backpressure=False):
    """One engine's output rows ``got`` (``[(cycle, value)]``, or a streamed output's beats)
    checked against ``stim`` (values, and the latency after each row's last pair;
    ``accepted``: the cycle each pair was taken; ``backpressure``: the bench held ``o.ready``
    low at times, so rows may come later than due)."""
    expected = [int(x) for x in stim["expected"]]
    lat, fmt, d = stim["latency"], as_format(stim["fmt"]), stim["d"]
    accepted_last = [c for c, last in zip(accepted, stim["last"], strict=True) if last]
    fails = []
    if _beats(stim):
        got = _rows_of_beats(stim, got, accepted_last, backpressure, fails)
        lat = None                                              # checked per beat above
    if len(got) != len(expected):
        fails.append(f"{len(expected)} rows expected, {len(got)} came out in {cycles} cycles")
    for r, ((c, value), want) in enumerate(zip(got, expected, strict=False)):
        if lat is not None and c - accepted_last[r] != lat:
            fails.append(f"row {r}: output {c - accepted_last[r]} cycles after its last pair, latency says {lat}")
        if value != want:
            bad = [j for j in range(d) if ((value ^ want) >> (j * fmt.width)) & ((1 << fmt.width) - 1)]
            g, w = _decode_row(fmt, d, value), _decode_row(fmt, d, want)
            fails.append(f"row {r}: lanes {bad} differ: " + "; ".join(f"[{j}] rtl {g[j]} model {w[j]}" for j in bad[:4]))
    return BenchResult(len(expected), len(stim["payloads"]), cycles, stalls, fails, name)


def _results(build):
    return [BenchResult(**r) for r in json.loads((Path(build) / "results.json").read_text())]


def regress_engine(name, sim, run_name, groups, *, seed=None, gap=0.2, out_gap=0.0, verilog=None, saif=None, **params):
    """Generate design ``name`` with ``params``, simulate ``groups`` (N per group of P rows) on
    ``sim``; every row must match the model bit for bit at the stated latency (else
    :class:`~flashd.verif.bench.RegressionFailed`). ``verilog``: simulate this text instead (its
    top module named ``engine``: a gate-level model of the engine's netlist). ``saif``: record
    every net's toggle count there (Verilator). ``out_gap``: the share of cycles in which a
    streamed output (``out_lanes``) is not taken. Returns the :class:`BenchResult`."""
    seed = seed_from_env() if seed is None else seed
    p = engine_params(name, **params)
    stim = make_stimulus(p, groups, np.random.default_rng(seed))
    env = {"FLASHD_STIM": "{build}/stimulus.json", "FLASHD_GAP": str(gap), "FLASHD_OUT_GAP": str(out_gap),
           "FLASHD_RESULTS": "{build}/results.json"}
    build = simulate(sim, run_name, None if verilog else design(name).build(p), "engine", "flashd.verif.test_engines_rtl",
                     seed, env, p.as_dict(), files={"stimulus.json": json.dumps(stim)}, verilog=verilog, saif=saif)
    return _results(build)[0].check()


def regress_engines(sim, run_name, cases, *, seed=None, gap=0.2):
    """Engines side by side in one simulator build (one Verilator compile for several
    configurations): ``cases`` is ``{name: (design, groups, params)}``; each engine's rows are
    checked as in :func:`regress_engine`. Returns their :class:`BenchResult` list."""
    seed = seed_from_env() if seed is None else seed
    rng = np.random.default_rng(seed)
    ps = {n: engine_params(name, **params) for n, (name, _, params) in cases.items()}
    stim = {n: make_stimulus(ps[n], groups, rng) for n, (_, groups, _) in cases.items()}
    env = {"FLASHD_STIM": "{build}/stimulus.json", "FLASHD_GAP": str(gap), "FLASHD_RESULTS": "{build}/results.json"}
    build = simulate(sim, run_name, SideBySide({n: design_of(p).build(p) for n, p in ps.items()}), "engines",
                     "flashd.verif.test_engines_rtl", seed, env, {n: p.as_dict() for n, p in ps.items()},
                     files={"stimulus.json": json.dumps({"engines": stim})})
    return [r.check() for r in _results(build)]
