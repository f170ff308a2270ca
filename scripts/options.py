"""Option types and option groups the commands share: a bad value is reported by argparse
itself, naming the option; engine options take their help from the parameter classes'
field metadata (:func:`flashd.hdl.params.field_help`)."""

import argparse
from pathlib import Path

from flashd.hdl.format import PRESETS, as_format
from flashd.hdl.params import MAX_D, MAX_GUARD_BITS, MAX_INTERLEAVE, FlashDParams, field_help
from flashd.hdl.pwl import SEGMENT_CHOICES
from flashd.synth.pdk import PDKS, library
from flashd.verif.accuracy import default_data
from flashd.verif.designs import DESIGNS, PAPER_OPTIONS, config
from flashd.verif.registry import METHODS, OPERATORS, OpSpec

__all__ = ["int_range", "comma_list", "fmt_type", "positive_float", "choice", "threshold", "D", "POSITIVE",
           "DESIGN_LIST", "CONFIG_LIST", "config_type", "DESIGN_OPTIONS", "engine_options", "engine_kwargs", "data_path", "data_options",
           "library_options", "cmd_library", "output_file", "output_dir", "operator_options", "op_spec",
           "WAVES_HELP"]

WAVES_HELP = "write an FST waveform of each simulation (its path is printed); FLASHD_WAVES=1 likewise"


def int_range(lo, hi=None):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is out of range (allowed: {lo}..{hi})" if hi is not None
                                             else f"{v} is out of range (allowed: >= {lo})")
        return v
    parse.__name__ = "integer"
    return parse


def comma_list(item):
    def parse(text):
        values = [item(x) for x in text.split(",") if x]
        if not values:
            raise argparse.ArgumentTypeError("an empty list")
        return values
    parse.__name__ = "list"
    return parse


def fmt_type(text):
    try:
        return as_format(text).name
    except (ValueError, TypeError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1e6:          # also nan and inf
        raise argparse.ArgumentTypeError(f"{text}: a clock period in ns, > 0 and < 1e6")
    return value


def choice(allowed, what):
    def parse(text):
        if text not in allowed:
            raise argparse.ArgumentTypeError(f"{what} {text!r} unknown (allowed: {', '.join(allowed)})")
        return text
    parse.__name__ = what
    return parse


def threshold(text):
    if text in ("none", "default"):
        return None if text == "none" else "default"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: need a number, 'none' or 'default'") from None


def out_lanes_type(text):
    """``--out-lanes``: lanes, ``none`` (the row at once) or ``auto``."""
    if text in ("none", "auto"):
        return None if text == "none" else "auto"
    return int_range(1)(text)


def loop_bits(text):
    """``--loop-frac``: fraction bits, ``none`` (the floating-point loop) or ``default``."""
    if text in ("none", "default"):
        return None if text == "none" else "default"
    return int_range(1)(text)


D = int_range(1, MAX_D)
POSITIVE = int_range(1)
DESIGN_LIST = comma_list(choice(list(DESIGNS), "design"))


def config_type(text):
    try:
        return config(text).spec
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


CONFIG_LIST = comma_list(config_type)
DESIGN_OPTIONS = {}             # every design's own options (beyond the common ones): the first class that has it
for _d in DESIGNS.values():
    for _o in _d.params.options():
        DESIGN_OPTIONS.setdefault(_o, _d.params)
CHOICES = {"saturation": {"choices": FlashDParams.SATURATION}, "update": {"choices": FlashDParams.UPDATE}}


def _help(name, cls=None):
    """The option's help: the field's own, prefixed with the designs that take it when not all do."""
    owners = [d.name for d in DESIGNS.values() if name in d.params.options()]
    text = field_help(cls or next(iter(DESIGNS.values())).params, name)
    return text if cls is None or len(owners) == len(DESIGNS) else f"{'/'.join(owners)}: {text}"


def engine_options(p, *, d=True, stages=True):
    """Engine parameters (only those given reach the engine, so its own defaults apply)."""
    if d:
        p.add_argument("--d", type=D, help=_help("d"))
    for name in ("acc_fmt", "scalar_fmt"):
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=fmt_type, help=_help(name))
    if stages:
        p.add_argument("--stages", type=int_range(0), help=_help("stages"))
    p.add_argument("--interleave", type=int_range(1, MAX_INTERLEAVE), help=_help("interleave"))
    p.add_argument("--guard-bits", dest="guard_bits", type=int_range(0, MAX_GUARD_BITS), help=_help("guard_bits"))
    # absent unless given: none (the row at once) is a value
    p.add_argument("--out-lanes", dest="out_lanes", type=out_lanes_type, metavar="K|none|auto", default=argparse.SUPPRESS,
                   help=_help("out_lanes"))
    p.add_argument("--out-buffers", dest="out_buffers", type=int_range(1, 8), help=_help("out_buffers"))
    p.add_argument("--min-row", dest="min_row", type=int_range(1), metavar="N", help=_help("min_row"))
    p.add_argument("--paper", action="store_true", help="each engine as the FLASH-D paper built it: the published "
                   "units (--method pwl), FLASH-D with --saturation published --update blend")
    p.add_argument("--method", choices=METHODS, help="the nonlinear units, of an engine or a nonlinear operator: fix "
                   "(faithful, fixed point; an engine's default where its scalar format allows: up to fp32) or "
                   "pwl (the published piecewise-linear tables on an FMA; an operator's default)")
    for name, cls in DESIGN_OPTIONS.items():
        kw = CHOICES.get(name) or ({"type": threshold} if name in ("skip_below", "copy_above") else
                                   {"type": loop_bits, "metavar": "BITS|none"} if name == "loop_frac" else
                                   {"type": int_range(1), "metavar": "BITS"} if name == "loop_int" else
                                   {"type": int, "metavar": "|".join(map(str, SEGMENT_CHOICES))})
        # absent unless given: "none" (no threshold) is a value, not "not given"
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, help=_help(name, cls), default=argparse.SUPPRESS, **kw)


def engine_kwargs(args, design):
    """Engine parameters from parsed options, only those given; an option the design does
    not take is an error naming it and the design's own options."""
    params = DESIGNS[design].params
    common = [k for k in params.COMMON if k not in ("d", "fmt") and (getattr(args, k, None) is not None or
                                                                     k == "out_lanes" and hasattr(args, k))]
    kw = {k: getattr(args, k) for k in common}
    given = [k for k in DESIGN_OPTIONS if hasattr(args, k)]
    own = params.options()
    bad = [k for k in given if k not in own]
    if bad:
        raise ValueError(f"--{bad[0].replace('_', '-')} does not apply to {design} "
                         f"(its options: {', '.join('--' + o.replace('_', '-') for o in own)})")
    kw.update({k: getattr(args, k) for k in given})
    if getattr(args, "paper", False):
        for k, v in PAPER_OPTIONS[design].items():
            if kw.get(k, v) != v:
                show = {k: "none" if x is None else x for k, x in (("v", v), ("given", kw[k]))}
                raise ValueError(f"--paper sets --{k.replace('_', '-')} {show['v']}; --{k.replace('_', '-')} "
                                 f"{show['given']} contradicts it")
            kw[k] = v
    return kw


def data_path(npz):
    """The ``--npz`` file, or the shared MiniLM data, else the packaged sample of it; an error
    naming the file if missing."""
    path = Path(npz) if npz else default_data()
    if not path.is_file():
        raise ValueError(f"--npz {path}: no such file")
    return path


def data_options(p):
    p.add_argument("--npz", help="file with q, k, v (or <prefix>_q, ...); default: ../shared/data/minilm_qkv.npz "
                   "beside a checkout, else the packaged sample (its layer t0_l2)")


def library_options(p, clock=False):
    p.add_argument("--pdk", choices=list(PDKS), help="a real cell library: sky130 (built in: sky130_fd_sc_hd, "
                   "typical corner); other corners and PDKs from $PDK_ROOT (default: the GE library)")
    p.add_argument("--corner", help="with --pdk: the corner, e.g. ff_n40C_1v95 (found under $PDK_ROOT)")
    p.add_argument("--liberty", nargs="+", metavar="FILE", help="Liberty file(s) (.lib, .lib.gz; several are "
                   "merged) instead of the built-in GE library")
    if clock:
        p.add_argument("--clock-ns", dest="clock_ns", type=positive_float, help="clock period (ns): synthesis "
                       "maps for it (ABC delay target, buffering, sizing) and OpenSTA times the netlist")


def cmd_library(args):
    """The cell library the options name (pdk.library raises LibraryError, a ValueError, naming them)."""
    return library(args.pdk, args.corner, args.liberty)


def output_file(path, option):
    """``--json`` / ``--out`` checked before any long work: not a directory, its directory made."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a directory (give a file name)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{option} {path}: its directory cannot be made ({e.strerror or e})") from None
    return path


def output_dir(path, option):
    """An output directory checked before any long work: made if missing, not a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path}: is a file (give a directory)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{option} {path}: cannot be made ({e.strerror or e})") from None
    return path


# options that only operators take (an engine given one is refused, naming it)
OPERATOR_ONLY = ("fmt_in", "fmt_out", "n", "segments")


def operator_options(p):
    """The options of an operator beyond --fmt and --stages (generate, synth)."""
    p.add_argument("--fmt-in", dest="fmt_in", type=fmt_type, help="fma, dot, convert: input format (default --fmt)")
    p.add_argument("--fmt-out", dest="fmt_out", type=fmt_type, help="fma, dot: output format (default the input's); "
                   "convert: required")
    p.add_argument("--n", type=POSITIVE, help="dot: number of terms (default 4)")
    p.add_argument("--exact", action="store_true", help="dot: exact (Kulisch-style) window")
    p.add_argument("--segments", type=int, metavar="|".join(map(str, SEGMENT_CHOICES)),
                   help="nonlinear operators, method pwl: table pieces (default 8)")


def op_spec(args, op):
    """The :class:`OpSpec` of operator ``op`` from a command's options; an engine option is an error naming it."""
    entry = OPERATORS[op]
    engine_only = [k for k in ("d", "acc_fmt", "scalar_fmt", "interleave") if getattr(args, k) is not None]
    engine_only += ["paper"] if getattr(args, "paper", False) else []
    engine_only += [k for k in DESIGN_OPTIONS if hasattr(args, k)]
    if engine_only:
        raise ValueError(f"--{engine_only[0].replace('_', '-')} applies to the engines ({', '.join(DESIGNS)}), "
                         f"not to {op}")
    kw = {k: getattr(args, k) for k in entry.extras if getattr(args, k, None) is not None}
    if entry.formats != "one" and args.fmt_out is not None:
        kw["fmt_out"] = args.fmt_out
    if entry.formats == "convert" and args.fmt_out is None:
        raise ValueError(f"convert needs --fmt-out (allowed: {', '.join(PRESETS)} or e<E>m<M>)")
    if "exact" in kw and not kw["exact"]:
        del kw["exact"]
    return OpSpec(op=op, fmt=args.fmt_in or args.fmt or "bf16", stages=args.stages or 0, **kw)
