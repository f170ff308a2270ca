# amaranth: UnusedElaboratable=no
"""Operators: invalid parameters raise ValueError naming the parameter, the value and what is
allowed (a constructor that raises leaves its half-built component unelaborated: the pragma)."""

import pytest

from flashd.hdl.ops import FPFMA, FPAdd, FPCompare, FPConvert, FPDot, FPMul
from flashd.verif.registry import OpSpec
from flashd.verif.sim import check_simulator


@pytest.mark.parametrize("make", [
    lambda: FPAdd("bf16", stages=-1), lambda: FPMul("bf16", stages=-1),
    lambda: FPFMA("bf16", stages=-1), lambda: FPCompare("bf16", stages=-1),
    lambda: FPConvert("bf16", "fp32", stages=-1), lambda: FPDot("bf16", n=4, stages=-1),
])
def test_negative_stages(make):
    with pytest.raises(ValueError, match=r"stages=-1 is out of range \(allowed: >= 0\)"):
        make()


def test_stages_not_an_integer():
    with pytest.raises(ValueError, match="stages must be an integer, not 1.5"):
        FPMul("bf16", stages=1.5)


@pytest.mark.parametrize("n", [0, -3])
def test_dot_needs_a_term(n):
    with pytest.raises(ValueError, match=rf"n={n} is out of range \(allowed: >= 1\)"):
        FPDot("bf16", n=n)


def test_dot_guard_bits_and_exact():
    with pytest.raises(ValueError, match=r"guard_bits=-1 is out of range"):
        FPDot("bf16", n=2, guard_bits=-1)
    with pytest.raises(ValueError, match="exact must be True or False, not 'yes'"):
        FPDot("bf16", n=2, exact="yes")


def test_format_argument_names_the_parameter():
    with pytest.raises(ValueError, match="fmt_out='fp64'"):
        FPConvert("bf16", "fp64")
    with pytest.raises(TypeError, match="fmt_in must be an FPFormat or a preset name, not 16"):
        FPFMA(16)


def test_unknown_operator_and_simulator():
    with pytest.raises(ValueError, match="op='div' is not an operator"):
        OpSpec(op="div", fmt="bf16")
    with pytest.raises(ValueError, match="sim='questa' is not supported"):
        check_simulator("questa")
