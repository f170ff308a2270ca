"""The engines flashd knows, one descriptor each, in one table (:data:`DESIGNS`).

A descriptor joins what the layers below know of an engine: its parameter class and
component (:mod:`flashd.hdl`), its bit-exact golden model (:mod:`flashd.verif.attention_model`),
the functional unit each of its instances belongs to (area and power breakdowns) and its
loop-carried recurrences with their state registers (timing). Everything above (the
benches, synthesis, timing closure, power, the command line) asks the descriptor. Adding an
engine variant is its parameter class and component, its model, and one entry here.

The table sits in ``verif`` because it names the golden model: ``hdl`` stays below
``verif`` (hdl <- verif <- synth <- scripts) and knows no model.
"""

import re
from dataclasses import dataclass
from typing import Callable

from flashd.hdl.attention import FA2Engine, FlashDEngine
from flashd.hdl.params import FA2Params, FlashDParams

from . import attention_model

__all__ = ["Design", "Recurrence", "Config", "DESIGNS", "PAPER_OPTIONS", "design", "design_of", "config", "engine_params", "DOT",
           "WEIGHT", "LANES", "NORMALIZATION", "run_model"]

# functional units of the area and power breakdowns
DOT = "dot product"
WEIGHT = "softmax / weight path"
LANES = "output update lanes"
NORMALIZATION = "normalization"


@dataclass(frozen=True)
class Recurrence:
    """A loop-carried recurrence: ``units`` in series around it (instance names, digits
    stripped) and the ``states`` its state register may be named after (Yosys may name an
    output register after the port it drives)."""
    name: str
    units: tuple
    states: tuple


@dataclass(frozen=True)
class Design:
    """One engine.

    Parameters
    ----------
    name : str
        What users type (``fa2``).
    title : str
        What tables and plots print (``FA2``).
    params : type
        Its parameter class (:mod:`flashd.hdl.params`).
    component : type
        Its Amaranth component (:mod:`flashd.hdl.attention`): ``units(params)``,
        ``latency_of(params)``.
    model : callable
        ``model(params, q, k, v) -> ModelResult``, bit-exact (:mod:`flashd.verif.attention_model`).
    categories : dict
        Instance name (digits stripped) -> functional unit.
    recurrences : callable
        ``recurrences(params) -> tuple of Recurrence``.
    """
    name: str
    title: str
    params: type
    component: type
    model: Callable
    categories: dict
    recurrences: Callable

    def parameters(self, **kw):
        """The parameter object built from ``kw`` (validated)."""
        return self.params(**kw)

    def build(self, params, *, unit_builder=None):
        """The component for ``params`` (``unit_builder``: see :class:`~flashd.hdl.attention.StandIn`)."""
        return self.component(params, unit_builder=unit_builder)

    def units(self, params):
        return self.component.units(params)

    def latency(self, params):
        return self.component.latency_of(params)

    def category(self, instance):
        """The functional unit of an instance (``o_fma12`` -> lanes), ``other`` if unknown."""
        return self.categories.get(re.sub(r"\d+$", "", instance), "other")

    def loop_units(self, params):
        """Every unit (digits stripped) on a loop-carried recurrence."""
        return {u for r in self.recurrences(params) for u in r.units}


def _fa2_loops(p):
    return (Recurrence("running max m", ("max",), ("m_state",)), Recurrence("sum l", ("l_fma",), ("l_state",)),
            Recurrence("lanes o", ("o_fma",), ("o_state",)))


def _flashd_loops(p):
    weight = (Recurrence("weight ln w", ("loop",), ("lw_state",)) if p.loop_frac is not None else
              Recurrence("weight ln w", ("add_a", "lsig"), ("lw_state",)) if p.saturation == "exact" else
              Recurrence("weight w", ("ln_w", "add_a", "sig"), ("w_state",)))
    # FLASH-D's output is its lane state
    lanes = Recurrence("lanes o", ("diff", "o_fma") if p.update == "lerp" else ("o_fma",), ("o_state", "o__payload"))
    return weight, lanes


FA2 = Design(
    name=FA2Params.DESIGN, title="FA2", params=FA2Params, component=FA2Engine, model=attention_model.fa2,
    categories={"dot": DOT, **dict.fromkeys(("max", "sub_c", "sub_e", "exp_c", "exp_e", "l_fma", "c_cvt", "e_cvt"), WEIGHT),
                **dict.fromkeys(("ve", "o_fma", "v_cvt"), LANES),
                **dict.fromkeys(("recip", "norm", "r_cvt", "out_cvt"), NORMALIZATION)},
    recurrences=_fa2_loops)

FLASHD = Design(
    name=FlashDParams.DESIGN, title="FLASH-D", params=FlashDParams, component=FlashDEngine, model=attention_model.flashd,
    categories={"dot": DOT, **dict.fromkeys(("sub_dx", "add_a", "lsig", "exp_w", "cmp_skip", "cmp_copy", "ln_w", "sig",
                                             "one_minus_w", "w_cvt", "s_fix", "loop", "w_fix"), WEIGHT),
                **dict.fromkeys(("o_fma", "diff", "wv", "v_cvt"), LANES), "out_cvt": NORMALIZATION},
    recurrences=_flashd_loops)

DESIGNS = {d.name: d for d in (FA2, FLASHD)}
# each engine as the FLASH-D paper built it: the published piecewise-linear units (and FA2's row
# and FLASH-D's output rows at once: d normalizing multipliers in FA2), FLASH-D's saturation rule and blend update
PAPER_OPTIONS = {"fa2": {"method": "pwl", "out_lanes": None},
                 "flashd": {"method": "pwl", "saturation": "published", "update": "blend", "out_lanes": None}}


def design(name):
    """The descriptor called ``name``; an error naming it and the known ones."""
    if isinstance(name, Design):
        return name
    if name not in DESIGNS:
        raise ValueError(f"design={name!r} is unknown (allowed: {', '.join(DESIGNS)})")
    return DESIGNS[name]


def design_of(params):
    """The descriptor whose parameter class ``params`` is."""
    for d in DESIGNS.values():
        if type(params) is d.params:
            return d
    raise TypeError(f"params must be one of {', '.join(d.params.__name__ for d in DESIGNS.values())}, not {params!r}")


def engine_params(name, **kw):
    """The parameter object of design ``name`` built from ``kw``."""
    return design(name).parameters(**kw)


def run_model(params, q, k, v):
    """The golden model of ``params``'s design on bit patterns; a :class:`~flashd.verif.attention_model.ModelResult`."""
    return design_of(params).model(params, q, k, v)


@dataclass(frozen=True)
class Config:
    """A design with some options fixed (what ``compare`` takes as baseline or candidate),
    written ``design[/option=value...]``: ``fa2/out_lanes=8/scalar_fmt=fp32``."""
    spec: str
    design: str
    options: tuple = ()             # (option, value) pairs

    @property
    def title(self):
        return " ".join([design(self.design).title] + [f"{k}={v}" for k, v in self.options])

    def parameters(self, **kw):
        """The parameter object with this configuration's options over ``kw`` (validated)."""
        return design(self.design).parameters(**{**kw, **dict(self.options)})


def _value(text):
    if text.lower() == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def config(spec):
    """The :class:`Config` written ``spec``; an error naming a bad design or option."""
    if isinstance(spec, Config):
        return spec
    name, *opts = str(spec).split("/")
    dsg = design(name)
    allowed = dsg.params.COMMON + dsg.params.options()
    options = {}
    for opt in opts:
        key, eq, value = opt.partition("=")
        if not eq or key not in allowed or key in ("d", "fmt"):
            raise ValueError(f"configuration {spec!r}: {opt!r} is not option=value of {name} (options: "
                             f"{', '.join(k for k in allowed if k not in ('d', 'fmt'))})")
        options[key] = _value(value)
    return Config(str(spec), dsg.name, tuple(options.items()))
