"""Formats: ranges, presets, names, and equality by widths."""

import pytest

from flashd.hdl.format import PRESETS, FPFormat, as_format


@pytest.mark.parametrize("kwargs,param,value,allowed", [
    (dict(exp_bits=1, man_bits=7), "exp_bits", "1", "2..11"),
    (dict(exp_bits=12, man_bits=7), "exp_bits", "12", "2..11"),
    (dict(exp_bits=8, man_bits=0), "man_bits", "0", "1..52"),
    (dict(exp_bits=8, man_bits=53), "man_bits", "53", "1..52"),
])
def test_format_ranges(kwargs, param, value, allowed):
    with pytest.raises(ValueError) as e:
        FPFormat(**kwargs)
    assert f"{param}={value}" in str(e.value) and allowed in str(e.value)


def test_format_not_an_integer():
    with pytest.raises(ValueError, match="exp_bits must be an integer, not 8.0"):
        FPFormat(8.0, 7)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError) as e:
        as_format("bf17")
    assert "fmt='bf17'" in str(e.value) and "bf16" in str(e.value) and "fp8_e4m3" in str(e.value)


def test_equality_is_by_widths_not_names():
    assert as_format("e8m7") == PRESETS["bf16"] and hash(as_format("e8m7")) == hash(PRESETS["bf16"])
    assert as_format("e8m7").name == "e8m7" and PRESETS["bf16"].name == "bf16"
    assert as_format("e5m10") == PRESETS["fp16"] != PRESETS["bf16"]
