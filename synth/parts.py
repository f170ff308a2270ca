"""Where an operator's area goes: each step of FPAdd / FPMul / FPFMA synthesized on its own.

A step is built from the same :mod:`flashd.hdl.float` helpers, in the same order, as the
operator's ``elaborate``; its inputs are the previous step's outputs (ports), so the sum
of the steps is the operator without optimization across step boundaries. The report
sets each sum beside the whole operator's area to show how much that costs.
"""

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from flashd.hdl.emit import verilog_text
from flashd.hdl.float import (
    Aligned,
    Unpacked,
    add_aligned,
    align,
    multiply,
    normalize,
    normalize_product,
    round_pack,
    unpack,
)
from flashd.hdl.format import as_format
from flashd.verif.registry import OpSpec

from .flow import synth_module

__all__ = ["STEPS", "part_modules", "parts_table"]


def _unpacked(prefix, x):
    return {f"{prefix}_{k}": getattr(x, k) for k in ("sign", "exp", "sig", "zero", "inf", "nan")}


def _add_decode(m, fmt, v):
    a, b = unpack(m, fmt, v["a"], "a"), unpack(m, fmt, v["b"], "b")
    b_sign = b.sign ^ v["sub"]
    return {**_unpacked("a", a), **_unpacked("b", b), "b_sign": b_sign,
            "s_sign": Mux(a.inf, a.sign, Mux(b.inf, b_sign, 0)), "s_any": a.inf | b.inf,
            "inf": a.inf | b.inf, "nan": a.nan | b.nan | (a.inf & b.inf & (a.sign ^ b_sign))}


def _align(min_width):
    def step(m, fmt, v):
        x = align(m, v["a_sign"], v["a_exp"], v["a_sig"], v["a_zero"], v["b_sign"], v["b_exp"], v["b_sig"],
                  v["b_zero"], min_width=min_width(fmt))
        return {"big": x.big, "small": x.small, "top": x.top, "sign": x.sign, "eff_sub": x.eff_sub,
                "both_neg": x.both_neg, **_keep(v, "s_sign", "s_any", "inf", "nan")}
    return step


def _add(m, fmt, v):
    x = Aligned(big=v["big"], small=v["small"], top=v["top"], sign=v["sign"], eff_sub=v["eff_sub"],
                both_neg=v["both_neg"], width=len(v["big"]) + 1)
    sign, top, mag = add_aligned(m, x)
    return {"sign": Mux(v["s_any"], v["s_sign"], sign), "top": top, "mag": mag, **_keep(v, "inf", "nan")}


def _normalize(m, fmt, v):
    top, mag = normalize(m, v["top"], v["mag"])
    return {"top": top, "mag": mag, **_keep(v, "sign", "inf", "nan")}


def _round(fmt_of):
    def step(m, fmt, v):
        return {"out": round_pack(m, fmt_of(fmt), v["sign"], v["top"], v["mag"], inf=v["inf"], nan=v["nan"],
                                  normalized=True)}
    return step


def _mul_decode(m, fmt, v):
    return {**_unpacked("a", unpack(m, fmt, v["a"], "a")), **_unpacked("b", unpack(m, fmt, v["b"], "b"))}


def _product(m, fmt, v):
    def side(p):
        return Unpacked(**{k: v[f"{p}_{k}"] for k in ("sign", "exp", "sig", "zero", "inf", "nan")})
    prod = multiply(m, side("a"), side("b"))
    return {"sign": prod.sign, "top": prod.exp, "sig": prod.sig, "inf": prod.inf, "nan": prod.nan}


def _mul_normalize(m, fmt, v):
    top, mag = normalize_product(v["top"], v["sig"])
    return {"top": top, "mag": mag, **_keep(v, "sign", "inf", "nan")}


def _fma_decode(m, fmt, v):
    prod = multiply(m, unpack(m, fmt, v["a"], "a"), unpack(m, fmt, v["b"], "b"))
    c = unpack(m, fmt, v["c"], "c")
    return {"a_sign": prod.sign, "a_exp": prod.exp, "a_sig": prod.sig, "a_zero": prod.zero,
            **_unpacked("b", c),
            "s_sign": Mux(prod.inf, prod.sign, c.sign), "s_any": prod.inf | c.inf, "inf": prod.inf | c.inf,
            "nan": prod.nan | c.nan | (prod.inf & c.inf & (prod.sign ^ c.sign))}


def _keep(v, *names):
    return {k: v[k] for k in names}


_same = (lambda fmt: fmt)
# operator -> (input port widths, steps); each step maps the previous step's values to its own
STEPS = {
    "add": (lambda fmt: {"a": fmt.width, "b": fmt.width, "sub": 1},
            [("decode (IEEE unpack, specials)", _add_decode),
             ("align (swap, shift, sticky)", _align(lambda fmt: fmt.precision)),
             ("add (one adder, negate)", _add),
             ("normalize (LZC, left shift)", _normalize),
             ("round and pack (RNE, flush, specials)", _round(_same))]),
    "mul": (lambda fmt: {"a": fmt.width, "b": fmt.width},
            [("decode (IEEE unpack, specials)", _mul_decode),
             ("significand product", _product),
             ("normalize (one-bit shift)", _mul_normalize),
             ("round and pack (RNE, flush, specials)", _round(_same))]),
    "fma": (lambda fmt: {"a": fmt.width, "b": fmt.width, "c": fmt.width},
            [("decode and product", _fma_decode),
             ("align (swap, shift, sticky)", _align(lambda fmt: fmt.precision + 1)),
             ("add (one adder, negate)", _add),
             ("normalize (LZC, left shift)", _normalize),
             ("round and pack (RNE, flush, specials)", _round(_same))]),
}


class _Part(wiring.Component):
    """One step as a combinational module: ports are the values it reads and writes. The
    step is built once, here, to learn its output shapes; ``elaborate`` connects the ports
    to it (so a part is elaborated once)."""

    def __init__(self, fmt, ins, body):
        self._module = Module()
        self._ins = {k: Signal(s, name=k) for k, s in ins.items()}
        self._outs = body(self._module, fmt, self._ins)
        super().__init__({**{f"i_{k}": In(s) for k, s in ins.items()},
                          **{f"o_{k}": Out(Value.cast(x).shape()) for k, x in self._outs.items()}})

    def elaborate(self, platform):
        m = self._module
        m.d.comb += [x.eq(getattr(self, f"i_{k}")) for k, x in self._ins.items()]
        m.d.comb += [getattr(self, f"o_{k}").eq(x) for k, x in self._outs.items()]
        return m


def part_modules(op, fmt):
    """``[(step label, _Part)]`` for ``op`` in ``fmt``, each fed by the previous one's outputs."""
    if op not in STEPS:
        raise ValueError(f"op={op!r} has no step breakdown (allowed: {', '.join(STEPS)})")
    fmt = as_format(fmt)
    ports, steps = STEPS[op]
    shapes, out = ports(fmt), []
    for label, body in steps:
        part = _Part(fmt, shapes, body)
        out.append((label, part))
        shapes = {k[2:]: part.signature.members[k].shape for k in part.signature.members if k.startswith("o_")}
    return out


def parts_table(ops, fmts, *, library=None, progress=print):
    """Markdown: each operator's steps (generic cells, area), their sum and the whole operator."""
    lines = ["| operator | format | step | generic cells | share | area (GE) |", "|---|---|---|---|---|---|"]
    for fmt in fmts:
        for op in ops:
            rows = []
            for label, part in part_modules(op, fmt):
                text = verilog_text(part, "part")
                g = synth_module(text, "part", mode="generic")
                c = synth_module(text, "part", mode="cells", library=library)
                rows.append((label, g.cells, c.area))
            text = verilog_text(OpSpec(op=op, fmt=fmt).build(), op)
            g = synth_module(text, op, mode="generic")
            c = synth_module(text, op, mode="cells", library=library)
            total = sum(r[1] for r in rows)
            for label, cells, area in rows:
                lines.append(f"| {op} | {fmt} | {label} | {cells} | {100 * cells / total:.0f}% | {area:.0f} |")
            lines.append(f"| {op} | {fmt} | sum of steps | {total} | 100% | {sum(r[2] for r in rows):.0f} |")
            lines.append(f"| {op} | {fmt} | **whole operator** | **{g.cells}** | | **{c.area:.0f}** |")
            progress(f"  {op} {fmt}: steps {total} cells, whole {g.cells}")
    return "\n".join(lines)
