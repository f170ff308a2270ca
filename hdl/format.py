"""Floating-point format description shared by the generators and the golden model.

Only parameters live here (widths, bias, field masks); all arithmetic is written twice,
independently: once in Amaranth (:mod:`flashd.hdl.float`) and once in NumPy
(:mod:`flashd.verif.model`).
"""

import re
from dataclasses import dataclass, field

__all__ = ["FPFormat", "PRESETS", "as_format", "check_int"]

EXP_BITS_RANGE = (2, 11)
MAN_BITS_RANGE = (1, 52)


def check_int(name, value, lo, hi=None):
    """Raise ``ValueError`` naming ``name`` unless ``lo <= value <= hi`` (``hi=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        allowed = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name}={value} is out of range (allowed: {allowed})")
    return value


@dataclass(frozen=True)
class FPFormat:
    """An IEEE-754-style binary floating-point format.

    Parameters
    ----------
    exp_bits : int
        Exponent field width, 2..11.
    man_bits : int
        Stored fraction width (hidden bit excluded), 1..52.
    name : str, optional
        Display name; defaults to ``e{exp_bits}m{man_bits}``. Not part of equality: two
        formats with the same widths are the same format.

    The exponent bias is ``2**(exp_bits-1) - 1``. Exponent field all ones encodes Inf
    (fraction zero) or NaN; exponent field zero encodes zero. Subnormals are flushed to
    signed zero on input and output.
    """

    exp_bits: int
    man_bits: int
    name: str = field(default="", compare=False)      # a display name: e8m7 == bf16

    def __post_init__(self):
        check_int("exp_bits", self.exp_bits, *EXP_BITS_RANGE)
        check_int("man_bits", self.man_bits, *MAN_BITS_RANGE)
        if not self.name:
            object.__setattr__(self, "name", f"e{self.exp_bits}m{self.man_bits}")

    @property
    def width(self):
        return 1 + self.exp_bits + self.man_bits

    @property
    def precision(self):
        """Significand bits including the hidden bit."""
        return self.man_bits + 1

    @property
    def bias(self):
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def exp_mask(self):
        return (1 << self.exp_bits) - 1

    @property
    def man_mask(self):
        return (1 << self.man_bits) - 1

    @property
    def emin(self):
        """Unbiased exponent of the smallest normal number."""
        return 1 - self.bias

    @property
    def emax(self):
        """Unbiased exponent of the largest finite number."""
        return self.exp_mask - 1 - self.bias

    @property
    def qnan(self):
        """The one canonical quiet NaN every operator outputs: +, exponent all ones, fraction MSB set."""
        return (self.exp_mask << self.man_bits) | (1 << (self.man_bits - 1))

    @property
    def inf(self):
        return self.exp_mask << self.man_bits

    @property
    def max_finite(self):
        return ((self.exp_mask - 1) << self.man_bits) | self.man_mask

    @property
    def min_normal(self):
        return 1 << self.man_bits

    @property
    def sign_bit(self):
        return 1 << (self.width - 1)

    def __str__(self):
        return self.name


PRESETS = {
    "fp32": FPFormat(8, 23, "fp32"),
    "bf16": FPFormat(8, 7, "bf16"),
    "fp16": FPFormat(5, 10, "fp16"),
    "fp8_e4m3": FPFormat(4, 3, "fp8_e4m3"),
    "fp8_e5m2": FPFormat(5, 2, "fp8_e5m2"),
}


def as_format(fmt, param="fmt"):
    """Return an :class:`FPFormat` from a format, a preset name or ``'e<exp>m<man>'``;
    ``param`` names the argument in errors."""
    if isinstance(fmt, FPFormat):
        return fmt
    if isinstance(fmt, str):
        if fmt in PRESETS:
            return PRESETS[fmt]
        custom = re.fullmatch(r"e(\d+)m(\d+)", fmt)
        if custom:
            return FPFormat(int(custom[1]), int(custom[2]))
        raise ValueError(f"{param}={fmt!r} is not a known format (allowed: {', '.join(PRESETS)}, "
                         f"'e<exp_bits>m<man_bits>' such as 'e3m2', or FPFormat(exp_bits, man_bits))")
    raise TypeError(f"{param} must be an FPFormat or a preset name, not {fmt!r}")
