"""The operator registry: one entry per operator, and the parameter object of one operator.

An entry names the component class, its golden-model function, its stimulus generator, the
formats it takes, the name the command line and the reports use, and its report category.
The command line (``generate``, ``regress``, ``ops-area``), the regression harness, the
benches and the synthesis reports all read this table; adding an operator is one entry
here plus its component, its model function and (if no existing one fits) its stimulus.
"""

from dataclasses import dataclass, field

from flashd.hdl.fixunits import FIX_UNITS
from flashd.hdl.format import FPFormat, as_format, check_int
from flashd.hdl.nonlinear import FPExp, FPLn, FPLogSigmoid, FPReciprocal, FPSigmoid
from flashd.hdl.ops import FPFMA, FPAdd, FPCompare, FPConvert, FPDot, FPMul
from flashd.hdl.params import MAX_GUARD_BITS, METHODS
from flashd.hdl.pwl import check_segments, coefficients, exponent_check

from . import fixmodel, model, vectors

__all__ = ["Operator", "OPERATORS", "OpSpec", "names"]

ONE = "one"              # one format: fmt
IN_OUT = "in_out"        # fmt_in, and fmt_out defaulting to fmt_in
CONVERT = "convert"      # fmt_in and fmt_out, both required


@dataclass(frozen=True)
class Operator:
    """One registry entry.

    Attributes
    ----------
    name : str
        What users type (``flashd generate add``) and reports print.
    component : type
        The ``wiring.Component`` class (:mod:`flashd.hdl.ops`, :mod:`flashd.hdl.nonlinear`).
    model : callable
        ``model(spec, ins) -> {output field: uint64 array}`` from the golden model.
    stimulus : callable
        ``stimulus(spec, count, rng, exhaustive) -> {input field: uint64 array}``.
    formats : str
        ``"one"`` (``fmt``), ``"in_out"`` (``fmt_in``, optional ``fmt_out``) or ``"convert"``
        (both required).
    category : str
        Report category: ``"arithmetic"``, ``"comparison"``, ``"conversion"``, ``"nonlinear"``.
    extras : dict
        Further parameters and their defaults (the nonlinear units' ``method`` and, for the
        ``pwl`` method, ``segments``; the dot product's ``n``, ``guard_bits``, ``exact``).
    """
    name: str
    component: type
    model: object
    stimulus: object
    formats: str
    category: str
    extras: dict = field(default_factory=dict)


def _nonlinear_model(spec, ins):
    if spec.method == "fix":
        return {"out": getattr(fixmodel, spec.op)(spec.fmt, ins["a"])}
    return {"out": getattr(model, spec.op)(spec.fmt, ins["a"], spec.segments)}


def _nonlinear(name, component):
    return Operator(name, component, _nonlinear_model, vectors.one_operand, ONE, "nonlinear",
                    {"method": "pwl", "segments": 8})




OPERATORS = {op.name: op for op in [
    Operator("add", FPAdd, lambda s, ins: {"out": model.add(s.fmt, ins["a"], ins["b"], ins["sub"])},
             vectors.two_operands, ONE, "arithmetic"),
    Operator("mul", FPMul, lambda s, ins: {"out": model.mul(s.fmt, ins["a"], ins["b"])},
             vectors.two_operands, ONE, "arithmetic"),
    Operator("fma", FPFMA, lambda s, ins: {"out": model.fma(s.fmt, s.fmt_out, ins["a"], ins["b"], ins["c"])},
             vectors.fma_operands, IN_OUT, "arithmetic"),
    Operator("compare", FPCompare, lambda s, ins: model.compare(s.fmt, ins["a"], ins["b"]),
             vectors.two_operands, ONE, "comparison"),
    Operator("convert", FPConvert, lambda s, ins: {"out": model.convert(s.fmt, s.fmt_out, ins["a"])},
             vectors.one_operand, CONVERT, "conversion"),
    Operator("dot", FPDot, lambda s, ins: {"out": model.dot(s.fmt, s.fmt_out, ins["a"], ins["b"], s.guard_bits, s.exact)},
             vectors.dot_operands, IN_OUT, "arithmetic", {"n": 4, "guard_bits": 3, "exact": False}),
    _nonlinear("reciprocal", FPReciprocal),
    _nonlinear("ln", FPLn),
    _nonlinear("sigmoid", FPSigmoid),
    _nonlinear("logsigmoid", FPLogSigmoid),
    _nonlinear("exp", FPExp),
]}

EXTRAS = ("method", "segments", "n", "guard_bits", "exact")


def names(formats=None):
    """Operator names, optionally only those taking ``formats`` (e.g. ``"one"``)."""
    return [n for n, op in OPERATORS.items() if formats is None or op.formats == formats]


def _operator(op):
    if op not in OPERATORS:
        raise ValueError(f"op={op!r} is not an operator (allowed: {', '.join(OPERATORS)})")
    return OPERATORS[op]


@dataclass(frozen=True, kw_only=True)
class OpSpec:
    """The parameters of one operator: validated, defaults resolved, named; builds nothing
    until :meth:`build`.

    Parameters
    ----------
    op : str
        A registry name.
    fmt : FPFormat or str
        The format (``"one"`` operators) or the input format.
    fmt_out : FPFormat or str, optional
        The output format (defaults to ``fmt``; ``convert`` needs it).
    stages : int
        Register ranks, >= 0; ``latency == stages`` for every operator.
    method, segments, n, guard_bits, exact
        The operator's extras (see :attr:`Operator.extras`); None: its default. ``segments``
        applies to ``method="pwl"`` only.
    """
    op: str
    fmt: FPFormat
    fmt_out: FPFormat = None
    stages: int = 0
    method: str = None
    segments: int = None
    n: int = None
    guard_bits: int = None
    exact: bool = None

    def __post_init__(self):
        entry = _operator(self.op)
        set_ = object.__setattr__                # resolving defaults of a frozen dataclass
        fmt = as_format(self.fmt, "fmt" if entry.formats == ONE else "fmt_in")
        set_(self, "fmt", fmt)
        if entry.formats == ONE and self.fmt_out is not None and as_format(self.fmt_out, "fmt_out") != fmt:
            raise ValueError(f"{self.op} has one format (fmt); fmt_out={self.fmt_out} does not apply")
        if entry.formats == CONVERT and self.fmt_out is None:
            raise ValueError(f"{self.op} needs fmt_out (allowed: a preset or 'e<exp_bits>m<man_bits>')")
        set_(self, "fmt_out", as_format(self.fmt_out, "fmt_out") if self.fmt_out is not None else fmt)
        check_int("stages", self.stages, 0)
        if self.method == "fix" and self.segments is not None:
            raise ValueError(f"segments={self.segments!r} does not apply to method='fix' (its tables are "
                             f"planned from the precision)")
        for name in EXTRAS:
            value = getattr(self, name)
            if name not in entry.extras:
                if value is not None:
                    raise ValueError(f"{name}={value!r} does not apply to {self.op} "
                                     f"(its parameters: {', '.join(['stages', *entry.extras]) })")
            elif value is None and not (name == "segments" and self.method == "fix"):
                set_(self, name, entry.extras[name])
        if "method" in entry.extras:
            methods = METHODS if self.op in FIX_UNITS else ("pwl",)
            if self.method not in methods:
                raise ValueError(f"method={self.method!r} is not a method of {self.op} (allowed: {', '.join(methods)})")
        if self.method == "fix":
            FIX_UNITS[self.op].DESIGN(fmt)                  # the format's widths within the planner's
        elif "segments" in entry.extras:
            check_segments(self.segments, fmt, self.op)
            if self.op in ("ln", "exp"):
                exponent_check(fmt, self.op)
            coefficients(self.op, fmt, self.segments)      # every coefficient in the format's range
        if self.op == "dot":
            check_int("n", self.n, 1)
            check_int("guard_bits", self.guard_bits, 0, MAX_GUARD_BITS)
            if not isinstance(self.exact, bool):
                raise ValueError(f"exact must be True or False, not {self.exact!r}")

    @property
    def entry(self):
        return OPERATORS[self.op]

    @property
    def latency(self):
        """Cycles from ``i.valid`` to ``o.valid``."""
        return self.stages

    @property
    def component(self):
        """The component class :meth:`build` instantiates."""
        return FIX_UNITS[self.op] if self.method == "fix" else self.entry.component

    def build(self):
        """The component (a new one each call)."""
        entry, kw = self.entry, {"stages": self.stages}
        if self.method == "fix":
            return self.component(self.fmt, **kw)
        kw.update({k: getattr(self, k) for k in entry.extras if k != "method"})
        if entry.formats == ONE:
            return self.component(self.fmt, **kw)
        return self.component(self.fmt, self.fmt_out, **kw)

    def as_dict(self):
        """JSON-able parameters, formats by name (``fmt`` or ``fmt_in``/``fmt_out``)."""
        out = {"op": self.op, "stages": self.stages}
        if self.entry.formats == ONE:
            out["fmt"] = self.fmt.name
        else:
            out.update(fmt_in=self.fmt.name, fmt_out=self.fmt_out.name)
        out.update({k: getattr(self, k) for k in self.entry.extras})
        return out

    @classmethod
    def from_dict(cls, d):
        """The inverse of :meth:`as_dict` (also accepts the short forms users write)."""
        kw = {k: v for k, v in d.items() if k not in ("name", "fmt_in", "latency", "inputs", "outputs")}
        if "fmt_in" in d:
            kw["fmt"] = d["fmt_in"]
        return cls(**kw)

    @property
    def module_name(self):
        """``flashd_<op>_<fmt>[_<fmt_out>][_n<N>][_seg<S>|_fix][_exact|_g<G>]_s<S>``: every non-default parameter."""
        parts = ["flashd", self.op, self.fmt.name]
        if self.entry.formats != ONE and (self.fmt_out != self.fmt or self.entry.formats == CONVERT):
            parts.append(self.fmt_out.name)
        if self.n is not None:
            parts.append(f"n{self.n}")
        if self.segments is not None:
            parts.append(f"seg{self.segments}")
        if self.method == "fix":
            parts.append("fix")
        if self.exact:
            parts.append("exact")
        elif self.guard_bits is not None and self.guard_bits != self.entry.extras["guard_bits"]:
            parts.append(f"g{self.guard_bits}")
        parts.append(f"s{self.stages}")
        return "_".join(parts)

    def field_formats(self):
        """The format of each float field (for decoding in reports); other fields are bits."""
        if self.entry.formats == ONE:
            return {"a": self.fmt, "b": self.fmt, "out": self.fmt, "min": self.fmt, "max": self.fmt}
        return {"a": self.fmt, "b": self.fmt, "c": self.fmt_out, "out": self.fmt_out}

    def inputs(self, count, rng, exhaustive=False):
        """Stimulus: ``{input field: uint64 array}``."""
        return self.entry.stimulus(self, count, rng, exhaustive)

    def expected(self, ins):
        """Golden-model outputs for ``ins``: ``{output field: uint64 array}``."""
        return self.entry.model(self, ins)
