"""The `flashd` command line: generated files, names, and clear errors for bad options."""

import json

import pytest

from flashd.scripts.cli import main


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
    (["regress", "--ops", "add,div"], "argument --ops: operator 'div' unknown"),
    (["coeffs", "--func", "ln", "--fmt", "fp8_e4m3", "--segments", "16"], "segments=16 needs 4 fraction bits"),
])
def test_bad_options_exit_2_with_a_message(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_unknown_operator_is_an_argparse_error(capsys):
    assert main(["generate", "div"]) == 2
    assert "invalid choice: 'div'" in capsys.readouterr().err


def test_every_option_has_a_help_string():
    from flashd.scripts.cli import _parser
    _, commands = _parser()
    assert len(commands) == 11
    for name, sub in commands.items():
        for action in sub._actions:                  # argparse has no public list of them
            assert action.help, f"flashd {name} {action.option_strings or action.dest}: no help"


@pytest.mark.parametrize("func,segments", [("sigmoid", 8), ("exp", 8), ("ln", 4), ("logsigmoid", 2)])
def test_coeffs_labels_each_piece_with_its_own_interval(func, segments, capsys):
    """Pieces come from the table's own intervals (sigmoid and exp: x itself, halves per
    sign; ln: m in [1, 2)), not 1 + i/segments."""
    from flashd.hdl.format import as_format
    from flashd.hdl.pwl import intervals
    assert main(["coeffs", "--func", func, "--fmt", "bf16", "--segments", str(segments)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    want = intervals(func, segments, as_format("bf16"))
    assert len(rows) == len(want) > 0
    for row, (lo, hi) in zip(rows, want, strict=True):
        assert float(row[1].strip("[,")) == pytest.approx(lo, rel=1e-5, abs=1e-12)
        assert float(row[2].strip(")")) == pytest.approx(hi, rel=1e-5, abs=1e-12)
    if func == "sigmoid":
        assert rows[0][1:3] == ["[0,", "2)"] and rows[4][1:3] == ["[-2,", "-0)"]
