"""The one float datapath toolkit every operator uses: field layout, unpack, normalize,
round-and-pack, aligned addition. All functions build combinational logic and return values.

Conventions: a significand ``sig`` of width ``w`` with exponent ``top`` (signed, unbiased)
stands for ``sig * 2**(top - (w - 1))``, i.e. ``top`` is the weight of the MSB position.
"""

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Mux, Signal, Value
from amaranth.lib import data

__all__ = ["float_layout", "wire", "Unpacked", "unpack", "lzc", "shift_right_sticky", "normalize",
           "multiply", "normalize_product", "round_pack",
           "Aligned", "align", "add_aligned", "align_add"]


def float_layout(fmt):
    """Packed fields of ``fmt``, least significant first (fraction, exponent, sign)."""
    return data.StructLayout({"man": fmt.man_bits, "exp": fmt.exp_bits, "sign": 1})


def wire(m, value, name):
    """Put ``value`` on a named comb signal: a shared subexpression stays one net (expression
    trees reused many times otherwise grow exponentially in Amaranth's lowering)."""
    value = Value.cast(value)
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


@dataclass
class Unpacked:
    sign: Value
    exp: Value      # unbiased, signed; also the `top` of sig
    sig: Value      # precision bits, hidden bit at the MSB; zero for zero/subnormal
    zero: Value
    inf: Value
    nan: Value


def unpack(m, fmt, bits, name="x"):
    """Decode a packed value; subnormals read as signed zero."""
    v = data.View(float_layout(fmt), Value.cast(bits))
    exp_ones = wire(m, v.exp == fmt.exp_mask, f"{name}_exp_ones")
    exp_zero = wire(m, v.exp == 0, f"{name}_zero")
    man_zero = v.man == 0
    return Unpacked(
        sign=wire(m, v.sign, f"{name}_sign"),
        exp=wire(m, (v.exp.as_unsigned() - fmt.bias).as_signed(), f"{name}_exp"),
        sig=wire(m, Mux(exp_zero, 0, Cat(v.man, Const(1, 1))), f"{name}_sig"),
        zero=exp_zero,
        inf=wire(m, exp_ones & man_zero, f"{name}_inf"),
        nan=wire(m, exp_ones & ~man_zero, f"{name}_nan"),
    )


def lzc(m, v, name="lzc"):
    """Leading-zero count of ``v`` as a log-depth tree; the count is meaningless when ``v == 0``.

    Returns ``(count, all_zero)``. ``v`` is padded at the LSB to a power of two, which
    changes nothing for nonzero ``v``.
    """
    n = 1
    while n < len(v):
        n *= 2
    v = Cat(Const(0, n - len(v)), v)

    def tree(x, path):
        if len(x) == 1:
            return Cat(), ~x[0]
        h = len(x) // 2
        c_lo, z_lo = tree(x[:h], path + "l")
        c_hi, z_hi = tree(x[h:], path + "h")
        z_hi = wire(m, z_hi, f"{name}_z{path}")
        count = wire(m, Mux(z_hi, Cat(c_lo, Const(1, 1)), Cat(c_hi, Const(0, 1))), f"{name}_c{path}")
        return count, z_hi & z_lo

    return tree(v, "")


def shift_right_sticky(m, x, amount, name="shr"):
    """``x >> amount`` (same width) and the OR of the bits shifted out; ``amount`` unsigned."""
    w = len(x)
    x = wire(m, x, f"{name}_in")
    big = wire(m, amount >= w, f"{name}_big")
    sat = Mux(big, w, amount)[:max(1, w.bit_length())]
    lost_mask = ~(Const((1 << w) - 1, w) << sat)[:w]
    sat = wire(m, sat, f"{name}_amount")
    return wire(m, Mux(big, 0, x >> sat), f"{name}_out"), wire(m, (x & lost_mask).any(), f"{name}_lost")


def normalize(m, top, sig, name="norm"):
    """Shift ``sig`` left until its MSB is set; returns ``(top, sig)`` of the same value."""
    sig = wire(m, sig, f"{name}_in")
    count, _ = lzc(m, sig, f"{name}_lzc")
    return (wire(m, (top - count).as_signed(), f"{name}_top"),
            wire(m, (sig << count)[:len(sig)], f"{name}_sig"))


def normalize_product(top, sig):
    """One-bit normalize of a product of two [1, 2) significands (it lies in [1, 4))."""
    msb = sig[-1]
    return (top - ~msb).as_signed(), Mux(msb, sig, (sig << 1)[:len(sig)])


def multiply(m, a, b, name="prod"):
    """Exact product of two :class:`Unpacked`: ``sig`` is twice as wide, its MSB may be 0.

    Inf * 0 is NaN; ``zero`` is set for a zero product of finite operands.
    """
    return Unpacked(
        sign=wire(m, a.sign ^ b.sign, f"{name}_sign"),
        exp=wire(m, (a.exp + b.exp + 1).as_signed(), f"{name}_exp"),
        sig=wire(m, a.sig * b.sig, f"{name}_sig"),
        zero=wire(m, (a.zero | b.zero) & ~a.inf & ~b.inf & ~a.nan & ~b.nan, f"{name}_zero"),
        inf=wire(m, (a.inf | b.inf) & ~a.zero & ~b.zero & ~a.nan & ~b.nan, f"{name}_inf"),
        nan=wire(m, a.nan | b.nan | (a.inf & b.zero) | (a.zero & b.inf), f"{name}_nan"),
    )


def round_pack(m, fmt, sign, top, sig, *, zero=0, inf=0, nan=0, normalized=False, name="rnd"):
    """Normalize, round to nearest even, and pack ``(-1)**sign * sig * 2**(top - (w-1))``.

    Results below the smallest normal flush to signed zero; at or beyond overflow, Inf.
    Priority: ``nan`` (canonical quiet NaN) > ``inf`` > ``zero`` > the rounded value.
    With ``normalized=True`` the caller guarantees the MSB of a nonzero ``sig`` is set, and
    the leading-zero count and shifter are left out.
    """
    p = fmt.precision
    w = len(sig)
    exp, norm = (top, sig) if normalized else normalize(m, top, sig, f"{name}_norm")
    if w < p + 1:                       # make room for the guard bit
        norm = Cat(Const(0, p + 1 - w), norm)
        w = p + 1
    kept = norm[w - p:]
    guard = norm[w - p - 1]
    sticky = norm[:w - p - 1].any() if w - p - 1 > 0 else Const(0, 1)
    round_up = wire(m, guard & (sticky | kept[0]), f"{name}_up")
    biased = wire(m, (exp + fmt.bias).as_signed(), f"{name}_biased")
    underflow = biased < 0
    overflow = wire(m, biased >= fmt.exp_mask, f"{name}_overflow")
    # cvfpu trick: adding the round bit to {exponent, fraction} carries into the exponent,
    # and the largest finite value rounds up to exactly the Inf encoding.
    body = wire(m, (Cat(kept[:p - 1], biased[:fmt.exp_bits]) + round_up)[:fmt.exp_bits + fmt.man_bits],
                f"{name}_body")
    body_exp = body[p - 1:]
    is_zero = wire(m, zero | ~sig.any() | underflow | (~overflow & (body_exp == 0)), f"{name}_is_zero")
    is_inf = wire(m, inf | (~is_zero & (overflow | (body_exp == fmt.exp_mask))), f"{name}_is_inf")
    return wire(m, Mux(nan, fmt.qnan,
          Mux(is_inf, Cat(Const(fmt.inf, fmt.width - 1), sign),
          Mux(is_zero, Cat(Const(0, fmt.width - 1), sign),
              Cat(body, sign)))), f"{name}_out")


@dataclass
class Aligned:
    big: Value      # larger-exponent significand, ``guard`` zero bits appended
    small: Value    # the other, shifted to the same weight, sticky in its LSB
    top: Value      # exponent of ``big``'s MSB
    sign: Value     # sign of ``big``
    eff_sub: Value  # signs differ
    both_neg: Value # sign of an exact zero sum (-0 only for -0 + -0)
    width: int      # result magnitude width (room for the carry)


def align(m, a_sign, a_top, a_sig, a_zero, b_sign, b_top, b_sig, b_zero, *, min_width, guard=3, name="add"):
    """First half of :func:`align_add`: order by exponent and shift the smaller operand."""
    ws = max(len(a_sig), len(b_sig), min_width)
    sa = Cat(Const(0, ws - len(a_sig)), a_sig)
    sb = Cat(Const(0, ws - len(b_sig)), b_sig)
    a_big = wire(m, ~a_zero & (b_zero | (a_top >= b_top)), f"{name}_a_big")
    big_sig = wire(m, Mux(a_big, sa, sb), f"{name}_big_sig")
    small_sig = wire(m, Mux(a_big, sb, sa), f"{name}_small_sig")
    big_top = wire(m, Mux(a_big, a_top, b_top), f"{name}_big_top")
    small_top = Mux(a_big, b_top, a_top)
    small_zero = Mux(a_big, b_zero, a_zero)
    dist = wire(m, Mux(small_zero, 0, big_top - small_top).as_unsigned(), f"{name}_dist")
    small, lost = shift_right_sticky(m, Cat(Const(0, guard), small_sig), dist, f"{name}_align")
    return Aligned(big=Cat(Const(0, guard), big_sig), small=small | lost, top=big_top,
                   sign=Mux(a_big, a_sign, b_sign), eff_sub=a_sign ^ b_sign, both_neg=a_sign & b_sign,
                   width=ws + guard + 1)


def add_aligned(m, x, name="add"):
    """Second half of :func:`align_add`: add or subtract an :class:`Aligned` pair."""
    # one adder, big + (small ^ -eff_sub) + eff_sub, one bit wider than the sum so a
    # difference's sign is its MSB (two adders and a mux otherwise)
    w = len(x.big) + 2
    big, small = Cat(x.big, Const(0, w - len(x.big))), Cat(x.small, Const(0, w - len(x.small)))
    total = wire(m, (big + (small ^ Cat(*([x.eff_sub] * w))) + x.eff_sub)[:w].as_signed(), f"{name}_total")
    neg = wire(m, total < 0, f"{name}_neg")
    mag = wire(m, Mux(neg, -total, total)[:x.width], f"{name}_mag")
    sign = wire(m, Mux(mag.any(), x.sign ^ neg, x.both_neg), f"{name}_sign")
    return sign, wire(m, (x.top + 1).as_signed(), f"{name}_top"), mag


def align_add(m, a_sign, a_top, a_sig, a_zero, b_sign, b_top, b_sig, b_zero, *, min_width, guard=3,
              name="add"):
    """Add two signed significands (exact but for one sticky bit); return ``(sign, top, mag)``.

    The larger-exponent operand is kept whole; the other is shifted right into ``guard``
    extra bits, with everything shifted further folded into the LSB (sticky), which is
    enough for one correct rounding (``min_width`` >= precision of the result, +1 when an
    operand may have a leading zero, as a product does). ``mag`` is zero only for an exact
    zero sum, whose sign is the round-to-nearest one (-0 only for -0 + -0).
    """
    return add_aligned(m, align(m, a_sign, a_top, a_sig, a_zero, b_sign, b_top, b_sig, b_zero,
                                min_width=min_width, guard=guard, name=name), name)
