"""Pipelined floating-point operators.

Every operator is a ``wiring.Component`` with an input ``i`` and an output ``o``, each a
:class:`~flashd.hdl.pipeline.ValidSignature` (payload + valid, no back-pressure). A
``stages`` parameter (>= 0) sets the number of register ranks; ``latency`` (cycles from
``i`` to ``o``) equals ``stages``, one result per cycle. Ranks go to the operator's cut
points (``CUTS``, listed in each docstring) as spread by :class:`~flashd.hdl.pipeline.Pipeline`.
Formats, rounding and special values are described in :mod:`flashd.verif.model`.
"""

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .float import (
    align_add,
    float_layout,
    multiply,
    normalize,
    normalize_product,
    round_pack,
    shift_right_sticky,
    unpack,
    wire,
)
from .format import as_format, check_int
from .pipeline import Pipeline, PipelinedOperator, spread
from .unit import Unit

__all__ = ["FPAdd", "FPMul", "FPFMA", "FPCompare", "FPConvert", "FPDot", "MAX_GUARD_BITS"]

MAX_GUARD_BITS = 4096                    # the dot product's window; exact fp32 needs 506


class FPAdd(PipelinedOperator):
    """Floating-point add/subtract, ``a + b`` or ``a - b`` (``sub`` = 1), one rounding.

    Parameters
    ----------
    fmt : FPFormat or str
    stages : int
        Register ranks; cut points: after alignment and addition, after normalization,
        after rounding (``CUTS = 3``).

    Members
    -------
    i : In(ValidSignature(StructLayout({"a": fmt, "b": fmt, "sub": 1})))
    o : Out(ValidSignature(fmt))
    """
    CUTS = 3

    def __init__(self, fmt, *, stages=0):
        self.fmt = as_format(fmt)
        f = float_layout(self.fmt)
        super().__init__(data.StructLayout({"a": f, "b": f, "sub": 1}), f, stages)

    def elaborate(self, platform):
        m, fmt = Module(), self.fmt
        p = self._pipeline(m)
        a, b = unpack(m, fmt, self.i.payload.a, "a"), unpack(m, fmt, self.i.payload.b, "b")
        b_sign = b.sign ^ self.i.payload.sub
        sign, top, mag = align_add(m, a.sign, a.exp, a.sig, a.zero, b_sign, b.exp, b.sig, b.zero,
                                   min_width=fmt.precision)
        v = p.cut(sign=Mux(a.inf, a.sign, Mux(b.inf, b_sign, sign)), top=top, mag=mag,
                  inf=a.inf | b.inf, nan=a.nan | b.nan | (a.inf & b.inf & (a.sign ^ b_sign)))
        top, mag = normalize(m, v.top, v.mag)
        v = p.cut(sign=v.sign, top=top, mag=mag, inf=v.inf, nan=v.nan)
        v = p.cut(out=round_pack(m, fmt, v.sign, v.top, v.mag, inf=v.inf, nan=v.nan, normalized=True))
        self._drive(m, p, v.out)
        return m


class FPMul(PipelinedOperator):
    """Floating-point multiply, ``a * b``, one rounding.

    Parameters
    ----------
    fmt : FPFormat or str
    stages : int
        Cut points: after the significand product, after rounding (``CUTS = 2``).

    Members
    -------
    i : In(ValidSignature(StructLayout({"a": fmt, "b": fmt})))
    o : Out(ValidSignature(fmt))
    """
    CUTS = 2

    def __init__(self, fmt, *, stages=0):
        self.fmt = as_format(fmt)
        f = float_layout(self.fmt)
        super().__init__(data.StructLayout({"a": f, "b": f}), f, stages)

    def elaborate(self, platform):
        m, fmt = Module(), self.fmt
        p = self._pipeline(m)
        prod = multiply(m, unpack(m, fmt, self.i.payload.a, "a"), unpack(m, fmt, self.i.payload.b, "b"))
        v = p.cut(sign=prod.sign, top=prod.exp, sig=prod.sig, inf=prod.inf, nan=prod.nan)
        top, sig = normalize_product(v.top, v.sig)
        v = p.cut(out=round_pack(m, fmt, v.sign, top, sig, inf=v.inf, nan=v.nan, normalized=True))
        self._drive(m, p, v.out)
        return m


class FPFMA(PipelinedOperator):
    """Fused multiply-add ``a * b + c`` with one rounding.

    Parameters
    ----------
    fmt_in : FPFormat or str
        Format of ``a`` and ``b``.
    fmt_out : FPFormat or str, optional
        Format of ``c`` and the result; defaults to ``fmt_in`` (e.g. bf16 in, fp32 out).
    stages : int
        Cut points: after the product, after the aligned addition, after normalization,
        after rounding (``CUTS = 4``).

    Members
    -------
    i : In(ValidSignature(StructLayout({"a": fmt_in, "b": fmt_in, "c": fmt_out})))
    o : Out(ValidSignature(fmt_out))
    """
    CUTS = 4

    def __init__(self, fmt_in, fmt_out=None, *, stages=0):
        self.fmt_in = as_format(fmt_in, "fmt_in")
        self.fmt_out = as_format(fmt_out if fmt_out is not None else fmt_in, "fmt_out")
        fi, fo = float_layout(self.fmt_in), float_layout(self.fmt_out)
        super().__init__(data.StructLayout({"a": fi, "b": fi, "c": fo}), fo, stages)

    def elaborate(self, platform):
        m, fo = Module(), self.fmt_out
        p = self._pipeline(m)
        prod = multiply(m, unpack(m, self.fmt_in, self.i.payload.a, "a"),
                        unpack(m, self.fmt_in, self.i.payload.b, "b"))
        c = unpack(m, fo, self.i.payload.c, "c")
        v = p.cut(ps=prod.sign, pt=prod.exp, pm=prod.sig, pz=prod.zero,
                  cs=c.sign, ct=c.exp, cm=c.sig, cz=c.zero,
                  inf_sign=Mux(prod.inf, prod.sign, c.sign), inf=prod.inf | c.inf,
                  nan=prod.nan | c.nan | (prod.inf & c.inf & (prod.sign ^ c.sign)))
        sign, top, mag = align_add(m, v.ps, v.pt, v.pm, v.pz, v.cs, v.ct, v.cm, v.cz,
                                   min_width=fo.precision + 1)
        v = p.cut(sign=Mux(v.inf, v.inf_sign, sign), top=top, mag=mag, inf=v.inf, nan=v.nan)
        top, mag = normalize(m, v.top, v.mag)
        v = p.cut(sign=v.sign, top=top, mag=mag, inf=v.inf, nan=v.nan)
        v = p.cut(out=round_pack(m, fo, v.sign, v.top, v.mag, inf=v.inf, nan=v.nan, normalized=True))
        self._drive(m, p, v.out)
        return m


class FPCompare(PipelinedOperator):
    """IEEE comparison with IEEE 754-2019 ``minimum`` and ``maximum``.

    ``less``/``equal``/``greater`` are 0 and ``unordered`` is 1 when either operand is NaN, and then
    ``min``/``max`` are the canonical NaN. -0 and +0 compare equal, but ``min`` returns
    -0 and ``max`` +0. Subnormal operands read, and are returned, as signed zero.

    Parameters
    ----------
    fmt : FPFormat or str
    stages : int
        Cut point: the output (``CUTS = 1``).

    Members
    -------
    i : In(ValidSignature(StructLayout({"a": fmt, "b": fmt})))
    o : Out(ValidSignature(StructLayout({"less", "equal", "greater", "unordered": 1, "min", "max": fmt})))
    """
    CUTS = 1

    def __init__(self, fmt, *, stages=0):
        self.fmt = as_format(fmt)
        f = float_layout(self.fmt)
        out = data.StructLayout({"less": 1, "equal": 1, "greater": 1, "unordered": 1, "min": f, "max": f})
        super().__init__(data.StructLayout({"a": f, "b": f}), out, stages)

    def elaborate(self, platform):
        m, fmt = Module(), self.fmt
        p = self._pipeline(m)
        a_bits, b_bits = Value.cast(self.i.payload.a), Value.cast(self.i.payload.b)
        a, b = unpack(m, fmt, a_bits, "a"), unpack(m, fmt, b_bits, "b")
        body = fmt.width - 1

        def key(x, bits):          # signed order key; both zeros map to 0
            mag = Mux(x.zero, 0, bits[:body])
            return Mux(x.sign, -mag, mag)

        def flushed(x, bits):
            return Mux(x.zero, Cat(Const(0, body), x.sign), bits)

        ka, kb = key(a, a_bits), key(b, b_bits)
        fa, fb = flushed(a, a_bits), flushed(b, b_bits)
        un = a.nan | b.nan
        lt, eq, gt = ~un & (ka < kb), ~un & (ka == kb), ~un & (ka > kb)
        both_zero = a.zero & b.zero
        mx = Mux(un, fmt.qnan, Mux(both_zero, Cat(Const(0, body), a.sign & b.sign), Mux(lt, fb, fa)))
        mn = Mux(un, fmt.qnan, Mux(both_zero, Cat(Const(0, body), a.sign | b.sign), Mux(gt, fb, fa)))
        v = p.cut(out=Cat(lt, eq, gt, un, mn, mx))
        self._drive(m, p, v.out)
        return m


class FPConvert(PipelinedOperator):
    """Format conversion: exact when ``fmt_out`` covers ``fmt_in``, else round to nearest
    even with overflow to Inf and flush below the smallest normal.

    Parameters
    ----------
    fmt_in, fmt_out : FPFormat or str
    stages : int
        Cut point: the output (``CUTS = 1``).

    Members
    -------
    i : In(ValidSignature(StructLayout({"a": fmt_in})))
    o : Out(ValidSignature(fmt_out))
    """
    CUTS = 1

    def __init__(self, fmt_in, fmt_out, *, stages=0):
        self.fmt_in = as_format(fmt_in, "fmt_in")
        self.fmt_out = as_format(fmt_out, "fmt_out")
        super().__init__(data.StructLayout({"a": float_layout(self.fmt_in)}),
                         float_layout(self.fmt_out), stages)

    def elaborate(self, platform):
        m = Module()
        p = self._pipeline(m)
        a = unpack(m, self.fmt_in, self.i.payload.a, "a")
        v = p.cut(out=round_pack(m, self.fmt_out, a.sign, a.exp, a.sig, inf=a.inf, nan=a.nan,
                                 normalized=True))
        self._drive(m, p, v.out)
        return m


def _evenly(k, places):
    """``k`` <= ``places`` single ranks at evenly spaced places of ``places`` (one rank: the
    middle one), as counts per place."""
    chosen = {round((i + 1) * (places + 1) / (k + 1)) - 1 for i in range(k)}
    return [int(j in chosen) for j in range(places)]


def _tree(values, op):
    while len(values) > 1:
        values = [op(values[k], values[k + 1]) if k + 1 < len(values) else values[k]
                  for k in range(0, len(values), 2)]
    return values[0]


class DotProduct(wiring.Component):
    """One term of :class:`FPDot`: the exact product of ``a`` and ``b``, unpacked, its
    significand zero for a zero product. Combinational. Its own module, so that synthesis
    makes the d terms once (:attr:`FPDot.parts`).

    Members
    -------
    a, b : In(fmt.width)
    sign, zero, inf, nan : Out(1)
    exp : Out(signed)           the product's unbiased exponent (the weight of ``sig``'s MSB)
    sig : Out(2 * fmt.precision)
    """
    latency = 0

    def __init__(self, fmt):
        self.fmt = as_format(fmt, "fmt")
        super().__init__({"a": In(self.fmt.width), "b": In(self.fmt.width), "sign": Out(1),
                          "exp": Out(self.exp_shape(self.fmt)), "sig": Out(2 * self.fmt.precision),
                          "zero": Out(1), "inf": Out(1), "nan": Out(1)})

    @classmethod
    def latency_of(cls, *args, **kwargs):
        return 0

    @staticmethod
    def exp_shape(fmt):
        e = (Signal(fmt.exp_bits) - fmt.bias).as_signed()       # as unpack() and multiply() shape it
        return (e + e + 1).as_signed().shape()

    def elaborate(self, platform):
        m = Module()
        q = multiply(m, unpack(m, self.fmt, self.a, "a"), unpack(m, self.fmt, self.b, "b"))
        m.d.comb += [self.sign.eq(q.sign), self.exp.eq(q.exp), self.sig.eq(Mux(q.zero, 0, q.sig)),
                     self.zero.eq(q.zero), self.inf.eq(q.inf), self.nan.eq(q.nan)]
        return m


class DotAlign(wiring.Component):
    """One term of :class:`FPDot` aligned: ``sig`` (with ``guard_bits`` zero bits below it)
    shifted right by ``shift`` (bits shifted out dropped), negated when ``sign``.
    Combinational; its own module like :class:`DotProduct`.

    Members
    -------
    sign : In(1)
    sig : In(2 * fmt.precision)
    shift : In(unsigned)        the largest product exponent minus this term's
    term : Out(signed)          the aligned term, negated when ``sign``
    """
    latency = 0

    def __init__(self, fmt, guard_bits, shift_width):
        self.fmt = as_format(fmt, "fmt")
        self.guard_bits = check_int("guard_bits", guard_bits, 0)
        width = 2 * self.fmt.precision
        aligned = Signal(width + self.guard_bits)
        super().__init__({"sign": In(1), "sig": In(width), "shift": In(check_int("shift_width", shift_width, 1)),
                          "term": Out(Mux(Signal(), -aligned, aligned).shape())})     # as elaborate() forms it

    @classmethod
    def latency_of(cls, *args, **kwargs):
        return 0

    def elaborate(self, platform):
        m = Module()
        aligned, _ = shift_right_sticky(m, Cat(Const(0, self.guard_bits), self.sig), self.shift, "align")
        m.d.comb += self.term.eq(Mux(self.sign, -aligned, aligned))
        return m


def _key(fmt, exp, zero):
    """A product's exponent for the maximum: a zero term's lies below any nonzero product's top."""
    return Mux(zero, 2 * (fmt.emin - 1), exp)


class FPDot(PipelinedOperator):
    """Fused dot product ``sum_j a[j] * b[j]`` over ``n`` terms, one rounding.

    Products are exact. Each is aligned to the largest product exponent ``E`` in a window
    that keeps ``guard_bits`` bits below the LSB of a product of exponent ``E``; bits
    shifted out of the window are dropped (each term's magnitude is truncated, no sticky).
    The accumulator is ``2*precision + guard_bits + ceil(log2 n)`` bits plus sign, and its
    sum is exact. ``exact=True`` sets ``guard_bits`` so that nothing is ever dropped
    (Kulisch-style; ``2*(emax-emin)`` bits, affordable for fp8, hundreds of bits for bf16).

    Parameters
    ----------
    fmt_in : FPFormat or str
    fmt_out : FPFormat or str, optional
        Result format (defaults to ``fmt_in``).
    n : int
        Number of terms, >= 1.
    guard_bits : int
        >= 0, default 3.
    exact : bool
    stages : int
        Cut points: after the products, after alignment, after the sum, after
        normalization, after rounding (``CUTS = 5``); beyond 5 stages, also between the
        levels of the sum's tree, then of the maximum exponent's (:meth:`_ranks`).
    part_builder : callable, optional
        Makes each :class:`DotProduct` and :class:`DotAlign` from its :class:`~flashd.hdl.unit.Unit`
        (default: builds it); synthesis passes stand-ins for their netlists.

    Attributes
    ----------
    parts : dict
        ``{Unit: n}`` for the product and the alignment term.

    Members
    -------
    i : In(ValidSignature(StructLayout({"a": ArrayLayout(fmt_in, n), "b": ArrayLayout(fmt_in, n)})))
    o : Out(ValidSignature(fmt_out))
    """
    CUTS = 5

    def __init__(self, fmt_in, fmt_out=None, *, n, guard_bits=3, exact=False, stages=0, part_builder=None):
        self.fmt_in = as_format(fmt_in, "fmt_in")
        self.fmt_out = as_format(fmt_out if fmt_out is not None else fmt_in, "fmt_out")
        self.n = check_int("n", n, 1)
        check_int("guard_bits", guard_bits, 0, MAX_GUARD_BITS)
        if not isinstance(exact, bool):
            raise ValueError(f"exact must be True or False, not {exact!r}")
        self.exact = exact
        self.guard_bits = self._guard_bits(self.fmt_in, guard_bits, exact)
        fi = float_layout(self.fmt_in)
        vec = data.ArrayLayout(fi, self.n)
        super().__init__(data.StructLayout({"a": vec, "b": vec}), float_layout(self.fmt_out), stages)
        self._part_builder = part_builder or Unit.build
        self.parts = self.parts_of(self.fmt_in, n=self.n, guard_bits=self.guard_bits)
        self._product_unit, self._align_unit = self.parts

    @staticmethod
    def _guard_bits(fmt_in, guard_bits, exact):
        return 2 * (fmt_in.emax - fmt_in.emin) if exact else guard_bits     # exact: nothing ever dropped

    @classmethod
    def parts_of(cls, fmt_in, fmt_out=None, *, n, guard_bits=3, exact=False, stages=0):
        """``{Unit: n}`` of the product and the alignment term, nothing built."""
        fi = as_format(fmt_in, "fmt_in")
        g = cls._guard_bits(fi, guard_bits, exact)
        exp = Signal(DotProduct.exp_shape(fi))
        shift_width = len((_key(fi, exp, Signal()) - exp).as_unsigned())
        return {Unit(DotProduct, (fi,)): n, Unit(DotAlign, (fi, g, shift_width)): n}

    def _ranks(self):
        """Register ranks per cut, in elaborate's order: the products, the maximum's tree
        levels, the alignment, the sum's tree levels, the sum, normalization, rounding. Up to 5
        stages go to the 5 main cuts as :class:`Pipeline` spreads them; beyond, one rank each
        and the rest into the trees' levels (the sum's first: at d = 64 its 6 levels of adders
        are 20 ns in sky130), then stacked on the main cuts."""
        inner = max(0, (self.n - 1).bit_length() - 1)          # level boundaries inside each tree
        main = spread(min(self.stages, 5), 5)
        extra = self.stages - sum(main)
        to_sum = min(extra, inner)
        to_max = min(extra - to_sum, inner)
        main = [r + k for r, k in zip(main, spread(extra - to_sum - to_max, 5), strict=True)]
        return [main[0], *_evenly(to_max, inner), main[1], *_evenly(to_sum, inner), *main[2:]]

    def _tree_cut(self, p, values, op, keep, name):
        """``values`` combined pairwise by ``op`` level by level, a cut between levels (its
        ranks from :meth:`_ranks`), ``keep`` carried through them; ``(result, keep)``."""
        level = 0
        while len(values) > 1:
            values = [op(values[k], values[k + 1]) if k + 1 < len(values) else values[k]
                      for k in range(0, len(values), 2)]
            level += 1
            if len(values) > 1:
                v = p.cut(**keep, **{f"{name}{j}": x for j, x in enumerate(values)})
                values = [getattr(v, f"{name}{j}") for j in range(len(values))]
                keep = {k: getattr(v, k) for k in keep}
        return values[0], keep

    def elaborate(self, platform):
        m, n = Module(), self.n
        p = Pipeline(m, self.stages, len(self._ranks()), self.i.valid, ranks=self._ranks())
        prods = []
        for j in range(n):
            q = m.submodules[f"prod{j}"] = self._part_builder(self._product_unit)
            m.d.comb += [q.a.eq(self.i.payload.a[j]), q.b.eq(self.i.payload.b[j])]
            prods.append(q)
        pos_inf = _tree([q.inf & ~q.sign for q in prods], lambda x, y: x | y)
        neg_inf = _tree([q.inf & q.sign for q in prods], lambda x, y: x | y)
        nan = _tree([q.nan for q in prods], lambda x, y: x | y) | (pos_inf & neg_inf)
        all_neg_zero = _tree([q.zero & q.sign for q in prods], lambda x, y: x & y)
        v = p.cut(nan=nan, inf=pos_inf | neg_inf, inf_sign=neg_inf, all_neg_zero=all_neg_zero,
                  **{f"s{j}": q.sign for j, q in enumerate(prods)},
                  **{f"t{j}": q.exp for j, q in enumerate(prods)},
                  **{f"m{j}": q.sig for j, q in enumerate(prods)},
                  **{f"z{j}": q.zero for j, q in enumerate(prods)})
        keys = [_key(self.fmt_in, getattr(v, f"t{j}"), getattr(v, f"z{j}")) for j in range(n)]
        emax, kept = self._tree_cut(p, [wire(m, k, f"key{j}") for j, k in enumerate(keys)],
                                    lambda x, y: wire(m, Mux(x >= y, x, y), "emax"), vars(v), "emax_part")
        v = SimpleNamespace(**kept)
        emax = wire(m, emax, "emax")
        terms = {}
        for j in range(n):
            a = m.submodules[f"align{j}"] = self._part_builder(self._align_unit)
            m.d.comb += [a.sign.eq(getattr(v, f"s{j}")), a.sig.eq(getattr(v, f"m{j}")),
                         a.shift.eq(wire(m, (emax - getattr(v, f"t{j}")).as_unsigned(), f"shift{j}"))]
            terms[f"a{j}"] = a.term
        keep = dict(nan=v.nan, inf=v.inf, inf_sign=v.inf_sign, all_neg_zero=v.all_neg_zero, emax=emax)
        v = p.cut(**keep, **terms)
        keep = dict(nan=v.nan, inf=v.inf, inf_sign=v.inf_sign, all_neg_zero=v.all_neg_zero, emax=v.emax)
        total, keep = self._tree_cut(p, [getattr(v, f"a{j}") for j in range(n)], lambda x, y: wire(m, x + y, "sum"),
                                     keep, "sum_part")
        v = p.cut(**keep, total=total)
        neg = v.total < 0
        fi, g = self.fmt_in, self.guard_bits
        width = 2 * fi.precision + g + (n - 1).bit_length()
        mag = Mux(neg, -v.total, v.total)[:width]
        sign = Mux(v.inf, v.inf_sign, Mux(mag.any(), neg, v.all_neg_zero))
        top, mag = normalize(m, (v.emax + (n - 1).bit_length()).as_signed(), mag)
        v = p.cut(sign=sign, top=top, mag=mag, inf=v.inf, nan=v.nan)
        v = p.cut(out=round_pack(m, self.fmt_out, v.sign, v.top, v.mag, inf=v.inf, nan=v.nan,
                                 normalized=True))
        self._drive(m, p, v.out)
        return m

