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
    (["generate", "add", "--fmt", "fp64"], "fmt='fp64' is not a known format"),
    (["generate", "mul", "--stages", "-2"], "stages=-2 is out of range"),
    (["generate", "dot", "--n", "0"], "n=0 is out of range"),
    (["generate", "convert", "--fmt-in", "bf16"], "convert needs --fmt-out"),
    (["regress", "--ops", "add,div"], "--ops div unknown"),
])
def test_bad_options_exit_2_with_a_message(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_unknown_operator_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["generate", "div"])
    assert e.value.code == 2 and "invalid choice: 'div'" in capsys.readouterr().err
