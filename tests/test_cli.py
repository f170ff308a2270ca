"""The `flashd` command line: generated files, names, and clear errors for bad options."""

import gzip
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import flashd
from flashd import progress
from flashd.hdl.attention import FlashDEngine
from flashd.hdl.emit import verilog_text
from flashd.hdl.format import as_format
from flashd.hdl.ops import FPAdd
from flashd.hdl.params import FA2Params, FlashDParams, field_help
from flashd.hdl.pwl import intervals
from flashd.scripts import hdl_commands
from flashd.scripts.cli import _parser, main
from flashd.synth.flow import synth_module
from flashd.synth.results import render
from flashd.verif import accuracy, attention_model
from flashd.verif.accuracy import heads, load_qkv, synthetic_qkv
from flashd.verif.cache import cache_dir, set_cache_dir
from flashd.verif.designs import engine_params
from flashd.verif.sim import engine_simulator, require


def test_generate_writes_verilog_and_sidecar(tmp_path):
    assert main(["generate", "dot", "--fmt-in", "bf16", "--fmt-out", "fp32", "--n", "8",
                 "--stages", "3", "--out", str(tmp_path)]) == 0
    name = "flashd_dot_bf16_fp32_n8_s3"
    text = (tmp_path / f"{name}.v").read_text()
    assert f"module {name}(" in text and "i__payload" in text and "o__valid" in text
    side = json.loads((tmp_path / f"{name}.json").read_text())
    assert side["latency_cycles"] == 3
    assert side["ports"]["i__payload"]["b"] == [128, 16, 8]      # offset, width, count
    assert side["ports"]["o__payload"] == {"out": [0, 32, 1]}


@pytest.mark.parametrize("argv,needle", [
    (["generate", "add", "--fmt", "fp64"], "argument --fmt: fmt='fp64' is not a known format"),
    (["generate", "mul", "--stages", "-2"], "argument --stages: -2 is out of range (allowed: >= 0)"),
    (["generate", "dot", "--n", "0"], "argument --n: 0 is out of range (allowed: >= 1)"),
    (["generate", "convert", "--fmt-in", "bf16"], "convert needs --fmt-out"),
    (["generate", "add", "--d", "4"], "--d applies to the engines (fa2, flashd), not to add"),
    (["generate", "flashd", "--d", "4", "--segments", "8"], "--segments applies to operators, not to flashd"),
    (["generate", "flashd", "--d", "4", "--ln-segments", "8"], "ln_segments=8 does not apply to saturation='exact'"),
    (["generate", "fa2", "--d", "4000"], "argument --d: 4000 is out of range (allowed: 1..1024)"),
    (["run", "--random", "16"], "--random N needs --d (the head dimension)"),
    (["run", "--d", "4"], "--d goes with --random (the data's d is its own)"),
    (["regress", "--ops", "add,div"], "argument --ops: operator 'div' unknown"),
    (["compare", "--d", "2", "--designs", "fa2,fa2"], "--designs fa2,fa2: a baseline and at least one other design"),
    (["compare", "--d", "2", "--designs", "fa2,mha"], "argument --designs: design='mha' is unknown (allowed: fa2, flashd)"),
    (["compare", "--d", "2", "--designs", "fa2/k=8,flashd"], "argument --designs: configuration 'fa2/k=8': 'k=8' is not "
     "option=value of fa2"),
    (["compare", "--d", "8", "--designs", "fa2/out_lanes=3,flashd"], "fa2/out_lanes=3 at bf16 d=8: out_lanes=3 does not "
     "divide d=8"),
    (["compare", "--preset", "ladder", "--d", "32"], "--preset ladder sets --d itself"),
    (["generate", "fa2", "--d", "4", "--paper", "--method", "fix"], "--paper sets --method pwl; --method fix "
     "contradicts it"),
    (["generate", "add", "--paper"], "--paper applies to the engines (fa2, flashd), not to add"),
    (["generate", "flashd", "--d", "4", "--loop-frac", "21"], "loop_frac=21 is out of range (allowed: 1..20)"),
    (["generate", "flashd", "--d", "4", "--loop-frac", "none", "--loop-int", "3"], "loop_int=3 applies only with "
     "loop_frac"),
    (["coeffs", "--func", "ln", "--fmt", "fp8_e4m3", "--segments", "16"], "segments=16 needs 4 fraction bits"),
])
def test_bad_options_exit_2_with_a_message(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_unknown_operator_is_an_argparse_error(capsys):
    assert main(["generate", "div"]) == 2
    assert "invalid choice: 'div'" in capsys.readouterr().err


def test_engine_options_take_their_help_from_the_parameter_fields():
    """One description per parameter: the field's metadata, prefixed with the designs that take it."""
    _, commands = _parser()
    helps = {a.dest: a.help for a in commands["generate"]._actions}
    assert helps["interleave"] == field_help(FA2Params, "interleave") and "(1..64, default 1)" in helps["interleave"]
    assert helps["saturation"] == "flashd: " + field_help(FlashDParams, "saturation")
    assert helps["recip_segments"] == "fa2: " + field_help(FA2Params, "recip_segments")


def test_every_option_has_a_help_string():
    _, commands = _parser()
    assert len(commands) == 14
    for name, sub in commands.items():
        for action in sub._actions:                  # argparse has no public list of them
            assert action.help, f"flashd {name} {action.option_strings or action.dest}: no help"


@pytest.mark.parametrize("func,segments", [("sigmoid", 8), ("exp", 8), ("ln", 4), ("logsigmoid", 2)])
def test_coeffs_labels_each_piece_with_its_own_interval(func, segments, capsys):
    """Pieces come from the table's own intervals (sigmoid and exp: x itself, halves per
    sign; ln: m in [1, 2)), not 1 + i/segments."""
    assert main(["coeffs", "--func", func, "--fmt", "bf16", "--segments", str(segments)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    want = intervals(func, segments, as_format("bf16"))
    assert len(rows) == len(want) > 0
    for row, (lo, hi) in zip(rows, want, strict=True):
        assert float(row[1].strip("[,")) == pytest.approx(lo, rel=1e-5, abs=1e-12)
        assert float(row[2].strip(")")) == pytest.approx(hi, rel=1e-5, abs=1e-12)
    if func == "sigmoid":
        assert rows[0][1:3] == ["[0,", "2)"] and rows[4][1:3] == ["[-2,", "-0)"]


def _npz(tmp_path, **arrays):
    path = tmp_path / "x.npz"
    np.savez(path, **arrays)
    return path


def test_cli_run_reports_errors_and_refuses_bad_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    good = _npz(tmp_path, q=rng.standard_normal((3, 4)) * 0.5, k=rng.standard_normal((9, 4)), v=rng.standard_normal((9, 4)))
    assert main(["run", "--npz", str(good), "--design", "fa2,flashd", "--fmt", "fp16"]) == 0
    out = capsys.readouterr().out
    assert "fa2: max abs" in out and "flashd: max abs" in out and "RMS rel" in out
    (tmp_path / "junk.npz").write_text("not a zip")
    assert main(["run", "--npz", str(tmp_path / "junk.npz")]) == 2
    assert "not a readable .npz file" in capsys.readouterr().err
    assert main(["run", "--npz", str(good), "--design", "fa3"]) == 2
    assert "argument --design: design 'fa3' unknown (allowed: fa2, flashd)" in capsys.readouterr().err


def test_cli_run_on_a_synthetic_head(capsys):
    """``--random N --d D``: N rows attending to N keys, the scores of std 2 as stated."""
    Q, K, _ = synthetic_qkv(256, 64, seed=3)
    assert Q.shape == K.shape == (1, 256, 64) and np.std(Q[0] @ K[0].T) == pytest.approx(2.0, rel=0.1)
    assert main(["run", "--random", "24", "--d", "4", "--seed", "3", "--design", "flashd"]) == 0
    out = capsys.readouterr().out
    assert "synthetic head (seed 3): 1 head(s), 24 rows, N=24, d=4" in out and "flashd: max abs" in out


@pytest.mark.sim
def test_cli_verify_simulates_random_rows_and_refuses_bad_options(capsys):
    assert main(["verify", "--d", "2", "--design", "fa2", "--fmt", "fp8_e4m3", "--keys", "3,2"]) == 0
    out = capsys.readouterr().out
    assert "fa2 d=2 fp8_e4m3 on icarus: " in out and " ok (" in out
    assert "simulator: icarus (d=2 <= 16: Icarus needs no build)" in out    # the default, and why
    assert engine_simulator(16)[0] == "icarus" and engine_simulator(17)[0] == "verilator"
    assert main(["verify", "--d", "2", "--keys", "0"]) == 2
    assert "argument --keys: 0 is out of range (allowed: >= 1)" in capsys.readouterr().err
    assert main(["verify", "--d", "2", "--design", "flashd", "--recip-segments", "8"]) == 2
    assert "does not apply to flashd" in capsys.readouterr().err


def test_cli_generates_engines_with_sidecars(tmp_path):
    assert main(["generate", "flashd", "--d", "3", "--fmt", "fp16", "--scalar-fmt", "fp32", "--interleave", "2",
                 "--stages", "1", "--out", str(tmp_path)]) == 0
    name = "flashd_flashd_fp16_d3_scfp32_p2_s1_k1"        # streamed on one lane: rows of 64 pairs keep up
    assert f"module {name}(" in (tmp_path / f"{name}.v").read_text()
    side = json.loads((tmp_path / f"{name}.json").read_text())
    assert side["latency_cycles"] == FlashDEngine.latency_of(
        FlashDParams(d=3, fmt="fp16", scalar_fmt="fp32", interleave=2, stages=1)) == 10
    assert side["ports"]["i__payload"]["k"] == [48, 16, 3] and side["ports"]["i__payload"]["last"] == [144, 1, 1]
    assert side["parameters"]["skip_below"] == -11.09


def test_cli_refuses_a_head_count_below_one(capsys):
    for cmd in ("accuracy", "tradeoff"):
        assert main([cmd, "--heads", "0"]) == 2
        assert "argument --heads: 0 is out of range (allowed: >= 1)" in capsys.readouterr().err


def test_version_and_python_m(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"flashd {flashd.__version__}" != "flashd unknown"
    out = subprocess.run([sys.executable, "-m", "flashd", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"flashd {flashd.__version__}"


def test_a_missing_optional_package_names_its_extra():
    with pytest.raises(RuntimeError, match=r"^simulation needs no_such_pkg, which is not installed: "
                                           r"pip install 'flashd\[sim\]'$"):
        require("no_such_pkg", "sim", "simulation")


def test_the_cache_is_never_the_installed_package(monkeypatch, tmp_path):
    set_cache_dir(None)
    monkeypatch.delenv("FLASHD_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "flashd"
    monkeypatch.setenv("FLASHD_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    try:
        set_cache_dir(tmp_path / "d")
        assert cache_dir() == (tmp_path / "d").resolve()
        (tmp_path / "f").write_text("")
        with pytest.raises(ValueError, match="cache directory .*f is a file"):
            set_cache_dir(tmp_path / "f")
    finally:
        set_cache_dir(None)


def _qkv_file(path, scale=1.0, heads=1, d=4):
    rng = np.random.default_rng(1)
    shape = (heads, 6, d) if heads > 1 else (6, d)
    np.savez(path, q=rng.standard_normal(shape) * scale, k=rng.standard_normal(shape), v=rng.standard_normal(shape))
    return path


def _empty_qkv(path):
    np.savez(path, **{x: np.zeros((1, 0, 4), np.float32) for x in "qkv"})
    return path


def test_bad_input_is_refused_before_any_long_work(tmp_path, capsys):
    """Each refused with exit 2 and one error line (after argparse's usage for its own errors);
    none of these synthesizes anything first."""
    plain = _qkv_file(tmp_path / "plain.npz")
    cases = [
        (["run", "--npz", str(_qkv_file(tmp_path / "big.npz", 1e6)), "--fmt", "fp8_e4m3"],
         "big.npz head 0 q: 24 values overflow fp8_e4m3 (largest magnitude"),
        (["synth", "fa2", "--d", "2", "--clock-ns", "inf", "--pdk", "sky130"], "argument --clock-ns: inf: a clock period"),
        (["synth", "fa2", "--d", "2", "--json", str(tmp_path)], f"--json {tmp_path}: is a directory"),
        (["power", "fa2", "--pdk", "sky130", "--clock-ns", "10", "--npz", str(plain), "--head", "5"],
         "--head 5: plain.npz has heads 0..0"),
        (["compare", "--d", "2", "--out", str(plain)], f"--out {plain}: is a file"),
        (["synth", "fa2", "--d", "2", "--unit-timing"], "--unit-timing needs --clock-ns"),
        (["ops-area", "--out", str(tmp_path)], f"--out {tmp_path}: is a directory"),
        (["run", "--npz", str(_empty_qkv(tmp_path / "empty.npz"))], "empty.npz:q: shape (1, 0, 4) is empty"),
        (["synth", "add", "--d", "4"], "--d applies to the engines (fa2, flashd), not to add"),
        (["tables", str(tmp_path / "none.md")], "no such file"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert needle in err.strip().splitlines()[-1] and "Traceback" not in err, (argv, err)


def test_accuracy_on_the_plain_layout(tmp_path, capsys):
    path = _qkv_file(tmp_path / "plain.npz", heads=2)
    problems = heads(path)
    assert [p[0] for p in problems] == ["h0", "h1"] and problems[1][1].shape == (6, 4)
    assert main(["accuracy", "--npz", str(path), "--fmt", "bf16", "--json", str(tmp_path / "a" / "acc.json")]) == 0
    assert "| FLASH-D |" in capsys.readouterr().out
    data = json.loads((tmp_path / "a" / "acc.json").read_text())
    assert data["kind"] == "accuracy" and data["heads"] == ["h0", "h1"] and data["provenance"]["command"]
    for r in data["rows"]:                      # the pooled share of skipped updates lies within the heads' range
        assert r["skip_range"][0] <= r["skip"] <= r["skip_range"][1]
    assert accuracy.accuracy_table(data) in render(tmp_path / "a" / "acc.json")


def test_a_truncated_liberty_is_named(tmp_path, capsys):
    lib = tmp_path / "cells.lib.gz"
    lib.write_bytes(gzip.compress(b"library (x) { cell (a) { area : 1; }") [:20])
    assert main(["synth", "fa2", "--d", "2", "--liberty", str(lib)]) == 2
    assert f"--liberty {lib}: cannot be read" in capsys.readouterr().err


def test_the_models_refuse_floats():
    q = np.ones((1, 2))
    with pytest.raises(TypeError, match=r"^q: dtype float64: the models take bit patterns"):
        attention_model.flashd(engine_params("flashd", d=2, fmt="bf16"), q, np.ones((1, 3, 2)), np.ones((1, 3, 2)))


def test_ctrl_c_is_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(hdl_commands, "cmd_coeffs", interrupted)
    assert main(["coeffs", "--func", "exp"]) == 130
    assert capsys.readouterr().err == "flashd: interrupted\n"


def test_the_packaged_sample_is_the_shared_layer(monkeypatch, tmp_path, capsys):
    """An installed flashd has no ../shared: the commands fall back on the packaged sample,
    the shared file's layer t0_l2 unchanged."""
    sample = load_qkv(accuracy.SAMPLE_DATA, "t0_l2")
    assert [x.shape for x in sample] == [(12, 74, 32)] * 3
    if accuracy.SHARED_DATA.is_file():
        assert all((a == b).all() for a, b in zip(sample, load_qkv(accuracy.SHARED_DATA, "t0_l2"), strict=True))
    monkeypatch.setattr(accuracy, "SHARED_DATA", tmp_path / "absent.npz")
    assert accuracy.default_data() == accuracy.SAMPLE_DATA
    assert main(["run", "--design", "fa2", "--fmt", "bf16"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("minilm_t0_l2.npz:t0_l2: 12 head(s), 74 rows, N=74, d=32") and "fa2: max abs" in out


def test_cache_info_and_clean_evict_the_least_recently_used(tmp_path, monkeypatch, capsys):
    """A cache of three entries (1000 bytes each, used at t = 1, 3, 2): `clean --max-size 2000`
    removes only the oldest; a synthesis cache hit marks its entry used; `clean` empties it;
    a bad size is refused in one line."""
    monkeypatch.setenv("FLASHD_CACHE", str(tmp_path))
    entry = {"synth/cache/a.json": 1, "synth/cache/b.json": 3, "verilator/build/x.bin": 2}
    for name, used in entry.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (used, used))
    os.utime(tmp_path / "verilator/build", (2, 2))
    assert main(["cache", "info"]) == 0
    assert "3 entries" in capsys.readouterr().out
    assert main(["cache", "clean", "--max-size", "2000"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert not (tmp_path / "synth/cache/a.json").exists() and (tmp_path / "verilator/build/x.bin").exists()
    old = time.time() - 3600
    text = verilog_text(FPAdd("fp8_e4m3"), "add8")
    first = synth_module(text, "add8")
    os.utime(first.netlist, (old, old))
    assert synth_module(text, "add8").cached and os.stat(first.netlist).st_mtime > old + 60
    assert main(["cache", "clean"]) == 0 and not any(p.is_file() for p in tmp_path.rglob("*"))
    assert main(["cache", "clean", "--max-size", "lots"]) == 2
    assert "size 'lots'" in capsys.readouterr().err


def test_the_readme_python_example_runs_and_the_api_names_bad_arguments(tmp_path, capsys):
    """The README's Python block runs as written (its printed output is the model's row, equal
    to running the model again); `flashd.generate` writes the same Verilog as the command line
    and refuses a wrong type or a wrong name with the argument named."""
    readme = (Path(flashd.__file__).parent / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(code) == 1
    scope = {}
    exec(compile(code[0], "README.md", "exec"), scope)
    assert scope["rtl"].module in capsys.readouterr().out and scope["rtl"].sidecar["latency_cycles"] >= 1
    again = flashd.run_model(scope["p"], scope["q"], scope["k"], scope["v"]).out
    assert np.array_equal(scope["out"].out, again) and again.shape == (2, 4)
    g = flashd.generate("add", tmp_path, fmt="bf16", stages=2)
    assert main(["generate", "add", "--fmt", "bf16", "--stages", "2", "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / f"{g.module}.v").read_text() == g == g.path.read_text()
    for bad, kind, named in [((3,), TypeError, "what"), (("nope",), ValueError, "what='nope'"),
                             ((scope["p"],), TypeError, "options d")]:
        with pytest.raises(kind, match=named):
            flashd.generate(*bad, **({"d": 3} if bad[0] is scope["p"] else {}))


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_quiet_prints_results_only_and_bars_are_for_terminals(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FLASHD_QUIET", "0")             # restored after the test: -q sets it
    path = _qkv_file(tmp_path / "plain.npz", heads=2)
    step_line = re.compile(r"^  1/\d+ FA2", re.M)
    assert main(["accuracy", "--npz", str(path), "--fmt", "bf16"]) == 0
    loud = capsys.readouterr()
    assert step_line.search(loud.out) and "configurations" not in loud.err      # lines; no bar off a terminal
    assert main(["-q", "accuracy", "--npz", str(path), "--fmt", "bf16"]) == 0
    quiet = capsys.readouterr()
    assert "| FLASH-D |" in quiet.out and not step_line.search(quiet.out) and not quiet.err
    for flag, drawn in (("0", True), ("1", False)):
        monkeypatch.setenv("FLASHD_QUIET", flag)
        term = _Terminal()
        monkeypatch.setattr(sys, "stderr", term)
        with progress.steps(3, "searches") as bar:
            bar.update(3)
        assert ("searches:" in term.getvalue() and "/3 [" in term.getvalue()) == drawn, term.getvalue()


def test_the_cache_is_kept_under_its_bound(tmp_path, monkeypatch, capsys):
    """After a command the least recently used entries beyond FLASHD_CACHE_MAX go, at most once
    an hour (the walk over the cache is not free); a bad bound is refused before the work."""
    root = tmp_path / "cache"
    for k, age in enumerate((3000, 2000, 1000)):                 # three 4 KiB entries, oldest first
        entry = root / "synth" / "cache" / f"e{k}"
        entry.mkdir(parents=True)
        (entry / "netlist.v").write_bytes(b"x" * 4096)
        os.utime(entry / "netlist.v", (time.time() - age,) * 2)
    monkeypatch.setenv("FLASHD_CACHE_MAX", "9K")
    monkeypatch.setattr("flashd.verif.cache._chosen", None)        # main's --cache-dir: undone after the test
    assert main(["--cache-dir", str(root), "coeffs", "--func", "exp"]) == 0
    assert sorted(p.name for p in (root / "synth" / "cache").iterdir()) == ["e1", "e2"]
    (root / "synth" / "cache" / "e3").mkdir()
    (root / "synth" / "cache" / "e3" / "more.v").write_bytes(b"x" * 8192)
    assert main(["--cache-dir", str(root), "coeffs", "--func", "exp"]) == 0      # checked within the hour: kept
    assert (root / "synth" / "cache" / "e3").exists()
    monkeypatch.setenv("FLASHD_CACHE_MAX", "lots")
    capsys.readouterr()
    assert main(["--cache-dir", str(root), "coeffs", "--func", "exp"]) == 2
    assert capsys.readouterr().err.strip().endswith("FLASHD_CACHE_MAX: size 'lots': a number of bytes, or with K, M, G "
                                                    "or T (e.g. 500M, 2G), or none")


def test_the_paper_configuration_is_one_option_away(tmp_path, capsys):
    """``--paper``: each engine as the paper built it (its module name says so), the ladder's paper block too."""
    from flashd.synth.sweep import LADDER
    from flashd.verif.designs import PAPER_OPTIONS, config
    for design in ("fa2", "flashd"):
        assert main(["generate", design, "--d", "4", "--paper", "--out", str(tmp_path)]) == 0
        p = config(design).parameters(d=4, fmt="bf16", **PAPER_OPTIONS[design])
        assert (tmp_path / f"{p.module_name}.v").is_file()
    assert [config(c).options for c in LADDER["blocks"]["paper"]] == [tuple(PAPER_OPTIONS[d].items()) for d in ("fa2", "flashd")]
    assert (tmp_path / "flashd_flashd_bf16_d4_p1_s0_pwl_published_blend.v").is_file()
