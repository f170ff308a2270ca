"""Netlists on the engine bench: the bench of :mod:`flashd.verif.attention_bench` (stimulus,
schedule, row check) run on flashd's own netlist simulator (:func:`run_engine`), and a
synthesized engine's gate-level model simulated by cocotb like its RTL (:func:`regress_netlist`)."""

from pathlib import Path

import numpy as np

from flashd.verif.attention_bench import check_rows, regress_engine, schedule
from flashd.verif.bench import RegressionFailed
from flashd.verif.cache import cache_dir

from .flow import gate_model
from .report import engine_report

__all__ = ["INPUTS", "run_engine", "regress_netlist"]

INPUTS = ("registered", "bench")     # when the inputs change: see run_engine


def run_engine(sim, stim, *, seed, gap=0.0, inputs="bench", progress=None):
    """The engine bench of the cocotb driver (:mod:`flashd.verif.test_engines_rtl`) on a
    :class:`~flashd.synth.gatesim.GateSim`: reset for two cycles, then the stimulus's pairs
    streamed (honouring ``ready``; offers from ``seed`` and ``gap`` as the cocotb driver draws
    them), every output row recorded and checked bit for bit and at the stated latency. Returns
    ``(BenchResult, rising edges simulated)``; the activity is in ``sim.toggles``.

    ``inputs``: ``"bench"`` changes the inputs at the falling edge, as the cocotb bench does
    (so Verilator's SAIF counts the same changes); ``"registered"`` changes them at the rising
    edge with the flip-flops, as registers on the same clock would, and counts one settled
    state per cycle: the half-cycle state (new flip-flops, old inputs) is not counted. The
    results are the same; each net's count can only be lower. ``progress(line)`` hears of each
    tenth of the pairs accepted (a d = 64 run takes minutes)."""
    if inputs not in INPUTS:
        raise ValueError(f"inputs {inputs!r}: one of {', '.join(INPUTS)}")
    registered = inputs == "registered"
    payloads = [int(x) for x in stim["payloads"]]
    width = len(sim.inputs["i__payload"])
    nbytes = (width + 7) // 8
    bits = np.unpackbits(np.frombuffer(b"".join(x.to_bytes(nbytes, "little") for x in payloads), dtype=np.uint8)
                         .reshape(len(payloads), nbytes), axis=1, bitorder="little")[:, :width]
    (offers,), (takes,), limit, tail = schedule([stim], seed, gap)
    sim.set("rst", 1)
    sim.set("i__valid", 0)
    sim.settle(count=False)     # the power-up values: the clock starts high at time 0, a rising edge
    sim.clock_edge()
    sim.settle(from_zero=True)  # as in Verilator's SAIF: the first values count as changes from 0
    sim.clock_edge()            # the rising edge inside the two reset cycles
    sim.settle()
    edges = 2
    sim.set("rst", 0)
    streamed = takes is not None                # out_lanes: an o.ready, held high (the cocotb bench varies it)
    if streamed:
        sim.set("o__ready", 1)
    accepted, seen, valid, stalls = [], [], 0, 0
    cycle, left = 0, None
    while left is None or left > 0:
        if cycle >= limit and len(accepted) < len(payloads):
            raise RegressionFailed(f"items not accepted after {cycle} cycles: {len(payloads) - len(accepted)} "
                                   "(ready stuck low?)")
        nxt = len(accepted)
        offer = nxt < len(payloads) and bool(offers[cycle % len(offers)])
        if offer != valid:
            sim.set("i__valid", int(offer))
            valid = offer
        if offer:
            sim.set("i__payload", bits[nxt])
        sim.settle()
        if offer:
            if sim.get("i__ready"):
                accepted.append(cycle)
                if progress and len(accepted) % max(1, len(payloads) // 10) == 0:
                    progress(f"  netlist simulation: {len(accepted)}/{len(payloads)} pairs, {cycle} cycles")
            else:
                stalls += 1
        if sim.get("o__valid"):
            seen.append((cycle, sim.get("o__payload")))
        sim.clock_edge()
        if not registered:      # else the next cycle's settle sees the flip-flops and the inputs change together
            sim.settle()
        edges += 1
        cycle += 1
        if left is None and len(accepted) == len(payloads):
            left = tail
        elif left is not None:
            left -= 1
    if registered:
        sim.settle()
    return check_rows(stim, seen, accepted, cycle, stalls), edges


def regress_netlist(name, sim, run_name, groups, *, library, clock_ns=None, seed=None, mutate=None, out_gap=0.0,
                    **params):
    """Synthesize design ``name`` (:func:`flashd.synth.report.engine_report`: the netlist whose
    area and timing are reported), simulate its gate-level model (each cell's logic from the
    library) like the RTL, bit-exact against the model. ``mutate(text) -> text`` edits the
    netlist first (to check that a wrong netlist fails). Returns ``(BenchResult, engine report)``."""
    rep = engine_report(name, library=library, clock_ns=clock_ns, **params)
    netlist = Path(rep["netlist"])
    if mutate is not None:
        netlist = cache_dir() / "mutated" / f"{run_name}.v"
        netlist.parent.mkdir(parents=True, exist_ok=True)
        netlist.write_text(mutate(Path(rep["netlist"]).read_text()))
    gates = gate_model(netlist, rep["top"], library, "engine")
    return regress_engine(name, sim, run_name, groups, seed=seed, verilog=gates, out_gap=out_gap, **params), rep
