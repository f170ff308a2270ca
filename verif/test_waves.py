"""Waveforms on request (``--waves``, ``FLASHD_WAVES=1``): the FST a run writes is read back and
the engine's output valid is high exactly ``latency`` cycles after the last pair of each row
was accepted; quiet runs print one line per design; an unchanged build is reused."""

import re
from pathlib import Path

import pytest
import pywellen

from flashd.hdl.attention import FlashDEngine
from flashd.hdl.params import FlashDParams
from flashd.scripts.cli import main

pytestmark = pytest.mark.sim

PERIOD_PS = 10_000                         # verif/stream.start: a 10 ns clock, rising at 0


def _sampled(path, names, cycles):
    """Each top-level signal in ``names`` just before each rising edge (what the flip-flops see)."""
    wave = pywellen.Waveform(str(path))
    assert (wave.timescale.factor, str(wave.timescale.unit)) == (1, "ps")
    top = {v.full_name.split(".", 1)[1].lstrip("\\"): v.signal for v in wave.all_vars()
           if v.full_name.startswith("engine.") and v.full_name.count(".") == 1}
    return {n: [top[n].value_at(c * PERIOD_PS - 1) for c in range(1, cycles)] for n in names}


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_waves_show_each_output_row_at_the_stated_latency(sim, capsys, monkeypatch):
    monkeypatch.setenv("FLASHD_WAVES", "0")                 # restored after the test (main sets it)
    monkeypatch.setenv("FLASHD_VERBOSE", "0")
    params = dict(d=2, fmt="fp8_e4m3", stages=1)
    keys = [5, 3]                                           # P = 1: one row of 5 keys, one of 3
    cmd = ["verify", "--design", "flashd", "--sim", sim, "--waves", "--keys", "5,3", "--d", "2", "--fmt", "fp8_e4m3",
           "--stages", "1"]
    assert main(cmd) == 0
    out = [ln for ln in capsys.readouterr().out.splitlines()
           if not ln.startswith(("building engine for", "built engine for"))]      # a fresh build says so
    assert not any("INFO" in ln for ln in out) and len(out) == 2      # the waveform's path and one result line
    path = Path(re.search(r"waveform: (\S+)", "\n".join(out)).group(1))
    assert path.is_file() and path.suffix == ".fst"
    s = _sampled(path, ("i__valid", "i__ready", "o__valid"), 80)
    accepted = [c for c, (v, r) in enumerate(zip(s["i__valid"], s["i__ready"], strict=True)) if v == 1 and r == 1]
    valid = [c for c, v in enumerate(s["o__valid"]) if v == 1]
    last = [accepted[sum(keys[:i + 1]) - 1] for i in range(len(keys))]
    assert len(accepted) == sum(keys)
    p = FlashDParams(**params)                              # the row streamed out in d/k beats, back to back
    assert valid == [c + FlashDEngine.latency_of(p) + b for c in last for b in range(p.d // p.out_lanes)]
    # the same Verilog and options again: the build is reused (binary not rewritten), the run is not
    binary = path.parent / ("engine" if sim == "verilator" else "sim.vvp")
    built, path_time = binary.stat().st_mtime_ns, path.stat().st_mtime_ns
    assert main(cmd) == 0 and binary.stat().st_mtime_ns == built and path.stat().st_mtime_ns > path_time
    assert "building engine" not in capsys.readouterr().out

