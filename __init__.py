"""flashd: RTL generator and verification flow for FlashAttention-2 and FLASH-D hardware.

The Python entry points (the command line, ``flashd --help``, calls the same)::

    import flashd
    p = flashd.engine_params("flashd", d=4, fmt="fp8_e4m3")     # or flashd.FlashDParams(...)
    text = flashd.generate(p)                                   # the engine's Verilog
    text = flashd.generate("add", fmt="bf16", stages=2, out_dir="build/gen")   # an operator, + .v/.json
    out = flashd.run_model(p, q, k, v)           # the golden model on bit patterns (flashd.from_float)
    rep = flashd.engine_report("flashd", d=4, fmt="fp8_e4m3", library=flashd.library("sky130"),
                               clock_ns=25.0)    # synthesis, per-unit area, OpenSTA timing

``compare`` / ``compare_at_clock`` sweep designs against a baseline, ``engine_power`` gives the
power of a synthesized engine on real data.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("flashd")
except PackageNotFoundError:          # a source tree that was never installed
    __version__ = "unknown"

from flashd.hdl.emit import engine_sidecar, operator_sidecar, verilog_text, write_text
from flashd.hdl.format import FPFormat, as_format
from flashd.hdl.params import FA2Params, FlashDParams
from flashd.synth.pdk import library
from flashd.synth.power import engine_power
from flashd.synth.report import engine_report
from flashd.synth.sweep import compare, compare_at_clock
from flashd.verif.designs import DESIGNS, design, design_of, engine_params, run_model
from flashd.verif.model import from_float, to_float
from flashd.verif.registry import OPERATORS, OpSpec

__all__ = ["__version__", "FPFormat", "as_format", "FA2Params", "FlashDParams", "DESIGNS", "OPERATORS", "design",
           "engine_params", "generate", "Generated", "run_model", "from_float", "to_float", "library", "engine_report", "compare",
           "compare_at_clock", "engine_power"]


class Generated(str):
    """Verilog text, with ``module`` (its top module's name), ``sidecar`` (ports, parameters,
    latency) and ``path`` (the written .v, or None)."""
    module: str
    sidecar: dict
    path: object


def generate(what, out_dir=None, **options):
    """The Verilog of an engine (``what``: a design name, with its parameters as ``options``,
    or a parameter object) or of an operator (``what``: an operator name, with ``options`` as
    :class:`~flashd.verif.registry.OpSpec` takes them, or an ``OpSpec``); with ``out_dir``, also
    written there as ``<module>.v`` and ``<module>.json``. Returns a :class:`Generated`."""
    if isinstance(what, str):
        if what not in DESIGNS and what not in OPERATORS:
            raise ValueError(f"what={what!r}: allowed {', '.join([*DESIGNS, *OPERATORS])}")
        what = engine_params(what, **options) if what in DESIGNS else OpSpec(op=what, **options)
    elif options:
        raise TypeError(f"options {', '.join(options)} go into what={what!r}, not beside it")
    if isinstance(what, OpSpec):
        component, name = what.build(), what.module_name
        sidecar = operator_sidecar(component, name, what.as_dict())
    elif isinstance(what, tuple(d.params for d in DESIGNS.values())):
        component, name = design_of(what).build(what), what.module_name
        sidecar = engine_sidecar(component, name)
    else:
        raise TypeError(f"what must be a design or operator name, engine parameters or an OpSpec, not {what!r}")
    text = Generated(verilog_text(component, name))
    text.module, text.sidecar = name, sidecar
    text.path = write_text(text, name, out_dir, sidecar) if out_dir is not None else None
    return text
