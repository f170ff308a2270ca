"""``flashd``: the command line. ``flashd <command> --help`` lists every option.

    flashd generate OP|fa2|flashd ...  Verilog and a JSON sidecar (ports, parameters, latency)
    flashd run      ...                engine models (and optionally RTL) on Q/K/V from an .npz
    flashd verify   ...                random rows through an engine's RTL, bit-exact
    flashd accuracy ...                error table of the standard configurations on real data
    flashd synth    fa2|flashd ...     Yosys area report of one engine, per functional unit (--clock-ns: OpenSTA timing)
    flashd compare  ...                FLASH-D vs FA2 area sweep, or at equal clock (--clock-ns): table, CSV/JSON, plot
    flashd tradeoff ...                area beside real-data error
    flashd ops-area ...                operators synthesized: generic cells beside FloPoCo's, GE
    flashd regress  ...                operators simulated against the golden model
    flashd coeffs   ...                one fitted table (a, b per piece)
    flashd characterize ...            exhaustive error table of the nonlinear units

``generate`` writes ``<module>.v`` and a ``<module>.json`` sidecar; the module name encodes
every non-default parameter.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from flashd.hdl.format import PRESETS, as_format
from flashd.hdl.params import DESIGNS, MAX_D, MAX_GUARD_BITS, MAX_INTERLEAVE, FlashDParams, engine_params
from flashd.hdl.pwl import FUNCTIONS, SEGMENT_CHOICES
from flashd.synth.gatesim import INPUTS
from flashd.synth.pdk import PDKS
from flashd.synth.power import ACTIVITY
from flashd.verif.registry import OPERATORS, OpSpec, names
from flashd.verif.sim import SIMULATORS

ENGINE_HELP = {
    "acc_fmt": "format of the d output lanes (default: --fmt)",
    "scalar_fmt": "format of the one-lane score path (default: --fmt)",
    "stages": "register ranks in each feed-forward operator (default 0)",
    "interleave": f"rows interleaved round-robin, P (1..{MAX_INTERLEAVE}, default 1)",
    "guard_bits": f"dot-product window bits below the largest product (0..{MAX_GUARD_BITS}, default 3)",
    "saturation": "flashd: exact (default: the loop carries ln w) or published (the paper's rule)",
    "update": "flashd: lerp (default: o + (v - o)*w) or blend (w*v + (1 - w)*o)",
    "skip_below": "flashd: keep o when the sigmoid argument (published: dx) is below this; "
                  "a number, none or default",
    "copy_above": "flashd: take o = v above this; a number, none or default",
    "exp_segments": "table pieces of the exponential (default 8)",
    "recip_segments": "fa2: table pieces of the reciprocal (default 8)",
    "lsig_segments": "flashd exact: log-sigmoid pieces per binade (default 8)",
    "ln_segments": "flashd published: table pieces of ln (default 8)",
    "sigmoid_segments": "flashd published: table pieces of the sigmoid (default 8)",
}
DESIGN_OPTIONS = tuple(dict.fromkeys(o for cls in DESIGNS.values() for o in cls.options()))
CHOICES = {"saturation": {"choices": FlashDParams.SATURATION}, "update": {"choices": FlashDParams.UPDATE}}


# --- argparse types: a bad value is reported by argparse, naming the option -------------

def _int_range(lo, hi=None):
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


def _list(item):
    def parse(text):
        values = [item(x) for x in text.split(",") if x]
        if not values:
            raise argparse.ArgumentTypeError("an empty list")
        return values
    parse.__name__ = "list"
    return parse


def _format(text):
    try:
        return as_format(text).name
    except (ValueError, TypeError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"{text}: must be > 0")
    return value


def _choice(allowed, what):
    def parse(text):
        if text not in allowed:
            raise argparse.ArgumentTypeError(f"{what} {text!r} unknown (allowed: {', '.join(allowed)})")
        return text
    parse.__name__ = what
    return parse


def _threshold(text):
    if text in ("none", "default"):
        return None if text == "none" else "default"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: need a number, 'none' or 'default'") from None


D = _int_range(1, MAX_D)
POSITIVE = _int_range(1)
DESIGN_LIST = _list(_choice(list(DESIGNS), "design"))


# --- option groups shared by several commands ------------------------------------------

def _engine_options(p, *, d=True, stages=True):
    """Engine parameters (only those given reach the engine, so its own defaults apply)."""
    if d:
        p.add_argument("--d", type=D, help=f"head dimension (1..{MAX_D})")
    for name in ("acc_fmt", "scalar_fmt"):
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=_format, help=ENGINE_HELP[name])
    if stages:
        p.add_argument("--stages", type=_int_range(0), help=ENGINE_HELP["stages"])
    p.add_argument("--interleave", type=_int_range(1, MAX_INTERLEAVE), help=ENGINE_HELP["interleave"])
    p.add_argument("--guard-bits", dest="guard_bits", type=_int_range(0, MAX_GUARD_BITS), help=ENGINE_HELP["guard_bits"])
    for name in DESIGN_OPTIONS:
        kw = CHOICES.get(name) or ({"type": _threshold} if name in ("skip_below", "copy_above") else
                                   {"type": int, "metavar": "|".join(map(str, SEGMENT_CHOICES))})
        # absent unless given: "none" (no threshold) is a value, not "not given"
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, help=ENGINE_HELP[name], default=argparse.SUPPRESS, **kw)


def engine_kwargs(args, design):
    """Engine parameters from parsed options, only those given; an option the design does
    not take is an error naming it and the design's own options."""
    common = [k for k in DESIGNS[design].COMMON if k not in ("d", "fmt") and getattr(args, k, None) is not None]
    kw = {k: getattr(args, k) for k in common}
    given = [k for k in DESIGN_OPTIONS if hasattr(args, k)]
    own = DESIGNS[design].options()
    bad = [k for k in given if k not in own]
    if bad:
        raise ValueError(f"--{bad[0].replace('_', '-')} does not apply to {design} "
                         f"(its options: {', '.join('--' + o.replace('_', '-') for o in own)})")
    kw.update({k: getattr(args, k) for k in given})
    return kw


def _data_path(npz):
    """The ``--npz`` file, or the shared MiniLM data; an error naming the file if missing."""
    from flashd.verif.accuracy import SHARED_DATA
    path = Path(npz) if npz else SHARED_DATA
    if not path.is_file():
        raise ValueError(f"--npz {path}: no such file" + ("" if npz else " (the shared MiniLM data sits in "
                                                            "../shared/data; or pass --npz FILE)"))
    return path


def _library(args):
    """The cell library the options name (pdk.library raises LibraryError, a ValueError, naming them)."""
    from flashd.synth.pdk import library
    return library(args.pdk, args.corner, args.liberty)


def _say(message):
    print(message, flush=True)


# --- the commands ----------------------------------------------------------------------

def cmd_generate(args):
    """Verilog and a JSON sidecar for an operator or an engine."""
    from flashd.hdl.emit import write_verilog
    from flashd.verif.harness import describe_fields
    if args.op in DESIGNS:
        from flashd.hdl.attention import build_engine
        if args.d is None:
            raise ValueError(f"{args.op} needs --d (the head dimension, 1..{MAX_D})")
        op_only = [k for k in ("fmt_in", "fmt_out", "n", "segments") if getattr(args, k) is not None]
        if op_only or args.exact:
            raise ValueError(f"--{(op_only or ['exact'])[0].replace('_', '-')} applies to operators, not to {args.op}")
        kw = engine_kwargs(args, args.op)
        params = engine_params(args.op, d=args.d, fmt=args.fmt or "bf16", **kw)
        unit, name, P = build_engine(params), params.module_name, params.interleave
        sidecar = {
            "module": name, "parameters": params.as_dict(), "latency_cycles": params.latency,
            "latency": "cycles from the acceptance of a row's last (k, v) pair to that row's o.valid",
            "throughput": f"{params.throughput} (k, v) pair per cycle; {P} row(s) interleaved round-robin",
            "ports": {"clk": "clock", "rst": "synchronous reset",
                      "i__payload": describe_fields(unit.i.payload.shape()), "i__valid": 1, "i__ready": 1,
                      "o__payload": describe_fields(unit.o.payload.shape()), "o__valid": 1},
            "field_format": "{name: [bit offset, element width, element count]}",
        }
    else:
        spec = _op_spec(args)
        unit, name = spec.build(), spec.module_name
        sidecar = {
            "module": name, "parameters": spec.as_dict(), "latency_cycles": spec.latency,
            "throughput": "1 result per cycle",
            "ports": {"clk": "clock (present when latency > 0)", "rst": "synchronous reset of the valid bits",
                      "i__payload": describe_fields(unit.i.payload.shape()), "i__valid": 1,
                      "o__payload": describe_fields(unit.o.payload.shape()), "o__valid": 1},
            "field_format": "{name: [bit offset, element width, element count]}",
        }
    path = write_verilog(unit, name, args.out, sidecar)
    print(f"wrote {path} and {path.with_suffix('.json')} (latency {sidecar['latency_cycles']} cycles, "
          f"{sidecar['throughput']})")
    return 0


def _op_spec(args):
    entry = OPERATORS[args.op]
    engine_only = [k for k in ("d", "acc_fmt", "scalar_fmt", "interleave") if getattr(args, k) is not None]
    engine_only += [k for k in DESIGN_OPTIONS if hasattr(args, k)]
    if engine_only:
        raise ValueError(f"--{engine_only[0].replace('_', '-')} applies to the engines (fa2, flashd), not to {args.op}")
    kw = {k: getattr(args, k) for k in entry.extras if getattr(args, k, None) is not None}
    if entry.formats != "one" and args.fmt_out is not None:
        kw["fmt_out"] = args.fmt_out
    if entry.formats == "convert" and args.fmt_out is None:
        raise ValueError(f"convert needs --fmt-out (allowed: {', '.join(PRESETS)} or e<E>m<M>)")
    if "exact" in kw and not kw["exact"]:
        del kw["exact"]
    return OpSpec(op=args.op, fmt=args.fmt_in or args.fmt or "bf16", stages=args.stages or 0, **kw)


def cmd_run(args):
    """Model error statistics per design, optionally an RTL cross-check of the first rows."""
    import numpy as np

    from flashd.verif import model
    from flashd.verif.accuracy import evaluate, load_qkv, synthetic_qkv
    if args.random:
        if args.d is None or args.npz or args.prefix:
            raise ValueError("--random N needs --d (the head dimension) and takes no --npz/--prefix")
        Q, K, V = synthetic_qkv(args.random, args.d, args.seed)
        name = f"synthetic head (seed {args.seed})"
    else:
        if args.d is not None:
            raise ValueError("--d goes with --random (the data's d is its own)")
        path = _data_path(args.npz)
        prefix = args.prefix if args.prefix or args.npz else "t0_l2"
        Q, K, V = load_qkv(path, prefix)
        name = f"{path.name}{':' + prefix if prefix else ''}"
    d = Q.shape[2]
    problems = [(f"h{h}", Q[h], K[h], V[h]) for h in range(Q.shape[0])]
    print(f"{name}: {Q.shape[0]} head(s), {Q.shape[1]} rows, "
          f"N={K.shape[1]}, d={d}; error against float64 softmax attention of the quantized inputs")
    for design in args.design:
        kw = engine_kwargs(args, design)
        p = engine_params(design, d=d, fmt=args.fmt, **kw)
        t = time.time()
        r = evaluate(p, problems)
        print(f"{design}: max abs {r['max_abs']:.4g}, max rel {r['max_rel']:.4g}, RMS rel {r['rms_rel']:.4g} "
              f"(floor: RMS rel {r['floor_rms_rel']:.4g}); skipped {100 * r['skip']:.1f}%, "
              f"copied {100 * r['copy']:.1f}% of lane updates; {r['rows']} rows in {time.time() - t:.1f} s")
        if args.rtl:
            from flashd.verif.attention_bench import regress_engine
            P, fmt = p.interleave, p.fmt
            groups = []
            for g in range(args.rtl_groups):
                rows = Q[0, g * P:(g + 1) * P]
                if len(rows) < P:
                    break
                q = model.from_float(fmt, rows)
                k = np.broadcast_to(model.from_float(fmt, K[0]), (P,) + K[0].shape)
                v = np.broadcast_to(model.from_float(fmt, V[0]), (P,) + V[0].shape)
                groups.append((q, k, v))
            t = time.time()
            print(regress_engine(design, args.rtl, f"run_{design}", groups, d=d, fmt=args.fmt, **kw).strip()
                  + f" ({args.rtl}, {time.time() - t:.0f} s)", flush=True)
    return 0


def cmd_verify(args):
    """Random rows through each design's RTL, bit-exact against the model."""
    from flashd.verif.attention_bench import regress_engine
    from flashd.verif.sim import engine_simulator
    if args.sim is None:
        args.sim, why = engine_simulator(args.d)
        print(f"simulator: {args.sim} ({why})")
    for design in args.design:
        kw = engine_kwargs(args, design)
        t = time.time()
        res = str(regress_engine(design, args.sim, f"verify_{design}", args.keys, seed=args.seed,
                                 d=args.d, fmt=args.fmt, **kw)).strip()
        print(f"{design} d={args.d} {args.fmt} on {args.sim}: {res} ({time.time() - t:.0f} s)", flush=True)
    return 0


def cmd_accuracy(args):
    """Error table of the standard configurations (or a skip-threshold sweep) on real data."""
    from flashd.verif.accuracy import configs, heads, table
    path = _data_path(args.npz)
    problems = heads(path, args.heads)
    d = problems[0][1].shape[1]
    print(f"{len(problems)} heads of {path.name}, fmt {args.fmt}, d {d}")
    if args.skip_sweep:
        print(table([(f"FLASH-D scalar {args.scalar_fmt}, skip_below {x}",
                      engine_params("flashd", d=d, fmt=args.fmt, scalar_fmt=args.scalar_fmt, skip_below=x))
                     for x in args.skip_sweep], problems))
    else:
        print(table(configs(args.fmt, d), problems))
    return 0


def cmd_synth(args):
    """One engine synthesized unit by unit; a per-unit area table (and JSON)."""
    from flashd.synth.report import engine_report, markdown
    if args.d is None:
        raise ValueError(f"{args.design} needs --d (the head dimension, 1..{MAX_D})")
    kw = engine_kwargs(args, args.design)
    if args.generic and (args.clock_ns or args.pdk or args.liberty):
        raise ValueError("--generic counts generic gates: it takes no --pdk, --liberty or --clock-ns")
    rep = engine_report(args.design, library=_library(args), mode="generic" if args.generic else "cells",
                        clock_ns=args.clock_ns, progress=_say, d=args.d, fmt=args.fmt, **kw)
    print(markdown(rep))
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=1))
    return 0


def _power_rows(args, fmt, d=None):
    """``(d, groups(P), source)`` for a power run: random rows (``--random``) or the rows of one
    head of the data (``--join-heads`` J heads side by side; with ``d`` given, J = d / the data's d)."""
    import numpy as np

    from flashd.synth.power import real_groups
    from flashd.verif.accuracy import load_qkv
    if getattr(args, "random", None):
        if d is None:
            raise ValueError("--random needs --d (the head dimension)")
        rows = args.rows or 8
        source = f"random rows ({rows} rows of {args.random} keys, seed {args.seed})"
        return d, (lambda P: [args.random] * max(1, rows // P)), source
    path = _data_path(args.npz)
    prefix = args.prefix if args.prefix or args.npz else "t0_l2"
    Q, K, V = load_qkv(path, prefix)
    name = f"{path.name}{':' + prefix if prefix else ''}"
    join = getattr(args, "join_heads", 1)
    if getattr(args, "join_heads", None) is None:            # compare --power: join as many heads as d needs
        if d % Q.shape[2]:
            raise ValueError(f"--power at d={d}: {name} has d={Q.shape[2]}; real rows fit an engine whose d is a "
                             f"multiple of it (heads side by side)")
        join = d // Q.shape[2]
    data_d = Q.shape[2] * join
    if d is not None and d != data_d:
        raise ValueError(f"--d {d}: {name} has d={Q.shape[2]}" + (f" x {join} joined heads = {data_d}" if join > 1 else "")
                         + " (the engine's d is the data's; --join-heads J puts J heads side by side)")
    if not all(np.isfinite(X).all() for X in (Q, K, V)):
        raise ValueError(f"--npz {path}: q, k or v holds NaN or infinity")
    head = getattr(args, "head", 0)
    source = f"{name} head {head}" + (f" (heads joined {join} side by side)" if join > 1 else "")
    return data_d, (lambda P: real_groups(Q, K, V, fmt, P, head=head, rows=getattr(args, "rows", None), join=join,
                                          source=path.name)[0]), source


def cmd_power(args):
    """Power of one engine from its gate-level simulation on real (or random) rows."""
    from flashd.hdl.format import as_format
    from flashd.synth.flow import check_clock
    from flashd.synth.power import engine_power, power_text, skip_study
    lib = _library(args)
    if args.clock_ns is None:
        raise ValueError("power needs --clock-ns (the clock the design is synthesized and timed for)")
    check_clock(args.clock_ns, lib)
    kw = engine_kwargs(args, args.design)
    if ("stages" in kw) != ("interleave" in kw):
        raise ValueError("give both --stages and --interleave, or neither (then the timing flow chooses them)")
    fmt = as_format(args.fmt)
    d, groups, source = _power_rows(args, fmt, args.d)
    if args.skip_study:
        if args.design != "flashd":
            raise ValueError("--skip-study is FLASH-D's (its skip and copy thresholds); the design is fa2")
        clash = sorted(set(kw) & {"skip_below", "copy_above", "saturation", "stages", "interleave"})
        if clash:
            raise ValueError(f"--skip-study sets {', '.join(clash)} itself (each variant its own design): drop them")
        from flashd.verif.accuracy import heads
        rows, md = skip_study(fmt.name, d, groups, source, heads(_data_path(args.npz), args.heads), library=lib,
                              clock_ns=args.clock_ns, seed=args.seed, progress=_say)
        print(md)
        result = rows
    else:
        result = engine_power(args.design, library=lib, clock_ns=args.clock_ns, groups=groups, source=source,
                              seed=args.seed, progress=_say, activity=args.activity, inputs=args.inputs, d=d,
                              fmt=fmt.name, **kw)
        print(power_text(result))
        sec = result["seconds"]
        print(f"(synthesis and timing {sec['synthesis_and_timing']} s, flat netlist {sec['flat_netlist']} s, "
              f"simulation model {sec['gate_model']} s, "
              f"gate-level simulation {sec['simulation']} s, power {sec['power']} s; the per-instance OpenSTA run "
              f"took {sec['per_instance_power_beside']} s beside the model and the simulation)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0


def cmd_ops_area(args):
    """Single operators synthesized: generic cells beside FloPoCo's, and GE; optionally each step."""
    from flashd.synth.parts import STEPS, parts_table
    from flashd.synth.report import operator_table
    md = operator_table(args.fmt, args.ops, library=_library(args), progress=_say)
    stepped = [o for o in args.ops if o in STEPS]
    if args.parts and stepped:
        md += "\n\nWhere the area goes (each step synthesized on its own):\n\n" + parts_table(
            stepped, args.fmt, library=_library(args), progress=_say)
    print(md)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(md + "\n")
        print(f"wrote {args.out}")
    return 0


def cmd_compare(args):
    """Both engines over d x formats: area (GE or a library), or with --clock-ns the smallest
    design of each engine that meets each clock (table, CSV/JSON and plot)."""
    from flashd.synth.report import compare, table
    lib = _library(args)
    if args.power and not args.clock_ns:
        raise ValueError("--power needs --clock-ns (power is reported at the clock each design is timed for)")
    if args.clock_ns:
        from flashd.synth.closure import clock_table, compare_at_clock
        from flashd.synth.flow import check_clock
        for t in args.clock_ns:
            check_clock(t, lib)
        power = None
        if args.power:
            from flashd.hdl.format import as_format
            from flashd.synth.power import engine_power
            for fmt in args.fmts:                       # bad data fails before any synthesis
                for d in args.ds:
                    _power_rows(args, as_format(fmt), d)

            def power(design, clock, parameters):
                q = {k: v for k, v in parameters.items() if k != "design"}
                _, groups, source = _power_rows(args, as_format(q["fmt"]), q["d"])
                return engine_power(design, library=lib, clock_ns=clock, groups=groups, source=source,
                                    progress=_say, **q)
        rows = compare_at_clock(args.ds, args.fmts, args.clock_ns, library=lib, progress=_say,
                                out_dir=args.out or "build/compare_clock", jobs=args.jobs, power=power)
        print(clock_table(rows))
        return 0
    rows = compare(args.ds, args.fmts, library=lib, out_dir=args.out or "build/compare", progress=_say, jobs=args.jobs)
    print(table(rows))
    return 0


def cmd_tradeoff(args):
    """Area at d beside real-data error for the standard configurations."""
    from flashd.synth.report import tradeoff
    from flashd.verif.accuracy import heads
    path = _data_path(args.npz)
    lib = _library(args)
    if args.clock_ns is not None:
        from flashd.synth.flow import check_clock
        check_clock(args.clock_ns, lib)
    rows, md = tradeoff(args.fmt, args.d, heads(path, args.heads), library=lib, progress=_say, clock_ns=args.clock_ns,
                        jobs=args.jobs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tradeoff.md").write_text(md + "\n")
    (out / "tradeoff.json").write_text(json.dumps(rows, indent=1))
    print(md)
    print(f"wrote {out}/tradeoff.md and tradeoff.json")
    return 0


def cmd_regress(args):
    """Operators of one format (fma, dot: in and out) simulated against the golden model."""
    from flashd.verif.bench import regress
    specs = {op: OpSpec(op=op, fmt=args.fmt, stages=args.stages) for op in args.ops}
    for sim in args.sim:
        t = time.time()
        print(regress(specs, sim, f"regress_{args.fmt}_{'_'.join(args.ops)}", count=args.count))
        print(f"[{sim}] passed in {time.time() - t:.1f} s")
    return 0


def cmd_coeffs(args):
    """One fitted table: each piece's interval and its line a*x + b."""
    from flashd.hdl.pwl import check_segments, coefficients, intervals
    from flashd.verif.model import decode
    fmt = as_format(args.fmt)
    check_segments(args.segments, fmt, args.function)
    a, b = coefficients(args.function, fmt, args.segments)
    pieces = intervals(args.function, args.segments, fmt)
    var = "m (the significand, in [1, 2))" if args.function in ("reciprocal", "ln") else \
          "r (the reduced argument)" if args.function == "exp" else "x"
    print(f"{args.function}, {fmt}, segments {args.segments}: y = a*{var.split()[0]} + b on each piece of {var} "
          f"(index: table entry)")
    for i, ((lo, hi), x, y) in enumerate(zip(pieces, a, b, strict=True)):
        print(f"  {i:3d}  [{lo:.6g}, {hi:.6g})  a={decode(fmt, x)}  b={decode(fmt, y)}")
    return 0


def cmd_characterize(args):
    """Exhaustive error table of the nonlinear units."""
    from flashd.verif.characterize import table
    print(table(args.function, args.fmt, args.segments))
    return 0


WAVES_HELP = "write an FST waveform of each simulation (its path is printed); FLASHD_WAVES=1 likewise"


def _parser():
    """The parser and its commands (``{name: subparser}``)."""
    from flashd.verif.characterize import FUNCS
    ap = argparse.ArgumentParser(prog="flashd", description=__doc__.split("\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="show the simulators' and cocotb's output "
                    "(default: kept in build.log and sim.log in each build directory; FLASHD_VERBOSE=1 likewise)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    ops = {n: OPERATORS[n].category for n in OPERATORS}
    g = sub.add_parser("generate", help="Verilog and a JSON sidecar for an operator or an engine",
                       epilog="operators: " + ", ".join(f"{n} ({c})" for n, c in ops.items()) + "; engines: fa2, flashd")
    g.add_argument("op", choices=list(OPERATORS) + list(DESIGNS), metavar="OP",
                   help="an operator or an engine (listed below)")
    g.add_argument("--fmt", type=_format, help="format of a one-format operator or of an engine's q, k, v "
                   "(default bf16); input format of the others")
    g.add_argument("--fmt-in", dest="fmt_in", type=_format, help="fma, dot, convert: input format (default --fmt)")
    g.add_argument("--fmt-out", dest="fmt_out", type=_format, help="fma, dot: output format (default the input's); "
                   "convert: required")
    g.add_argument("--n", type=POSITIVE, help="dot: number of terms (default 4)")
    g.add_argument("--exact", action="store_true", help="dot: exact (Kulisch-style) window")
    g.add_argument("--segments", type=int, metavar="|".join(map(str, SEGMENT_CHOICES)),
                   help="nonlinear operators: table pieces (default 8)")
    g.add_argument("--out", default="build/generated", help="output directory (default build/generated)")
    _engine_options(g)
    g.set_defaults(func=cmd_generate)

    def data_options(p):
        p.add_argument("--npz", help="file with q, k, v (or <prefix>_q, ...); default: ../shared/data/minilm_qkv.npz")

    u = sub.add_parser("run", help="engine models (and optionally RTL) on Q/K/V from an .npz: error statistics")
    data_options(u)
    u.add_argument("--prefix", help="array name prefix, e.g. t0_l2 (shared data default: t0_l2)")
    u.add_argument("--design", type=DESIGN_LIST, default=list(DESIGNS), help="designs, comma-separated (default fa2,flashd)")
    u.add_argument("--fmt", type=_format, default="bf16", help="format of q, k, v and the output (default bf16)")
    u.add_argument("--rtl", choices=SIMULATORS, help="also simulate the first rows of head 0, bit-exact")
    u.add_argument("--waves", action="store_true", help=WAVES_HELP)
    u.add_argument("--rtl-groups", dest="rtl_groups", type=POSITIVE, default=2, help="groups of P rows to simulate (default 2)")
    u.add_argument("--random", type=POSITIVE, metavar="N", help="a synthetic head instead of the data: N rows "
                   "attending to N keys, q, k, v standard normal (scores of std 2); needs --d")
    u.add_argument("--d", type=D, help=f"head dimension of --random (1..{MAX_D})")
    u.add_argument("--seed", type=int, default=1, help="seed of --random (default 1)")
    _engine_options(u, d=False)
    u.set_defaults(func=cmd_run)

    v = sub.add_parser("verify", help="random rows through an engine's RTL, bit-exact against the model")
    v.add_argument("--design", type=DESIGN_LIST, default=list(DESIGNS), help="designs, comma-separated (default fa2,flashd)")
    v.add_argument("--d", type=D, required=True, help=f"head dimension (1..{MAX_D})")
    v.add_argument("--fmt", type=_format, default="bf16", help="format of q, k, v and the output (default bf16)")
    v.add_argument("--keys", type=_list(POSITIVE), default=[16, 8],
                   help="keys per group of P rows, comma-separated (default 16,8: two groups)")
    v.add_argument("--sim", choices=SIMULATORS, help="simulator (default: icarus up to d=16, verilator above)")
    v.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    v.add_argument("--waves", action="store_true", help=WAVES_HELP)
    _engine_options(v, d=False)
    v.set_defaults(func=cmd_verify)

    a = sub.add_parser("accuracy", help="error table of the standard configurations on real data")
    data_options(a)
    a.add_argument("--fmt", type=_format, default="bf16", help="input format (default bf16)")
    a.add_argument("--heads", type=POSITIVE, help="a fixed spread-out subset of heads (default: all)")
    a.add_argument("--skip-sweep", dest="skip_sweep", type=_list(_threshold),
                   help="FLASH-D skip_below thresholds to sweep instead, e.g. none,-10,-8,-6")
    a.add_argument("--scalar-fmt", dest="scalar_fmt", type=_format, default="fp32",
                   help="scalar format of the sweep (default fp32)")
    a.set_defaults(func=cmd_accuracy)

    def library_options(p, clock=False):
        p.add_argument("--pdk", choices=list(PDKS), help="a real cell library: sky130 (built in: sky130_fd_sc_hd, "
                       "typical corner); other corners and PDKs from $PDK_ROOT (default: the GE library)")
        p.add_argument("--corner", help="with --pdk: the corner, e.g. ff_n40C_1v95 (found under $PDK_ROOT)")
        p.add_argument("--liberty", nargs="+", metavar="FILE", help="Liberty file(s) (.lib, .lib.gz; several are "
                       "merged) instead of the built-in GE library")
        if clock:
            p.add_argument("--clock-ns", dest="clock_ns", type=_positive_float, help="clock period (ns): synthesis "
                           "maps for it (ABC delay target, buffering, sizing) and OpenSTA times the netlist")

    y = sub.add_parser("synth", help="Yosys area report of one engine (per functional unit)")
    y.add_argument("design", choices=list(DESIGNS), help="the engine")
    y.add_argument("--fmt", type=_format, default="bf16", help="format of q, k, v and the output (default bf16)")
    library_options(y, clock=True)
    y.add_argument("--generic", action="store_true", help="generic gates (abc -g ...): cell counts instead of area")
    y.add_argument("--json", help="also write the report as JSON here")
    _engine_options(y)
    y.set_defaults(func=cmd_synth)

    cp = sub.add_parser("compare", help="FLASH-D vs FA2 area sweep: table, CSV/JSON and plot")
    cp.add_argument("--d", dest="ds", type=_list(D), default=[16, 32, 64, 128], help="head dimensions (default 16,32,64,128)")
    cp.add_argument("--fmt", dest="fmts", type=_list(_format), default=["bf16", "fp16", "fp32", "fp8_e4m3"],
                    help="formats (default bf16,fp16,fp32,fp8_e4m3)")
    library_options(cp)
    cp.add_argument("--clock-ns", dest="clock_ns", type=_list(_positive_float), help="clock periods (ns), "
                    "comma-separated: per engine the fewest stages and smallest interleave that meet each "
                    "(timing-driven synthesis, OpenSTA); needs a library with timing, e.g. --pdk sky130")
    cp.add_argument("--out", help="directory for compare.{md,csv,json,png} (default build/compare; with "
                    "--clock-ns compare_clock.* in build/compare_clock)")
    cp.add_argument("--jobs", type=POSITIVE, default=1, help="configurations (with --clock-ns: engine searches) "
                    "synthesized at once, one process each")
    cp.add_argument("--power", action="store_true", help="with --clock-ns: also each design's power from its "
                    "gate-level simulation on real rows (heads side by side up to d)")
    data_options(cp)
    cp.add_argument("--prefix", help="with --power: array name prefix (shared data default: t0_l2)")
    cp.set_defaults(func=cmd_compare)

    t = sub.add_parser("tradeoff", help="area beside real-data error for the standard configurations")
    t.add_argument("--d", type=D, default=64, help="head dimension of the synthesized engines (default 64)")
    t.add_argument("--fmt", type=_format, default="bf16", help="input format (default bf16)")
    t.add_argument("--heads", type=POSITIVE, default=8, help="heads of the real data to evaluate (default 8)")
    data_options(t)
    library_options(t, clock=True)
    t.add_argument("--jobs", type=POSITIVE, default=1, help="with --clock-ns: configurations searched at once, "
                   "one process each")
    t.add_argument("--out", default="build/tradeoff", help="directory for tradeoff.md and tradeoff.json")
    t.set_defaults(func=cmd_tradeoff)

    pw = sub.add_parser("power", help="power from a gate-level simulation of the synthesized engine on real data")
    pw.add_argument("design", choices=list(DESIGNS), help="the engine")
    pw.add_argument("--fmt", type=_format, default="bf16", help="format of q, k, v and the output (default bf16)")
    library_options(pw, clock=True)
    data_options(pw)
    pw.add_argument("--prefix", help="array name prefix, e.g. t0_l2 (shared data default: t0_l2)")
    pw.add_argument("--head", type=_int_range(0), default=0, help="the head whose rows and keys are simulated (default 0)")
    pw.add_argument("--rows", type=POSITIVE, help="rows simulated (default: all rows of the head), rounded down "
                    "to a multiple of the interleave P")
    pw.add_argument("--join-heads", dest="join_heads", type=POSITIVE, default=1, help="put J heads side by side "
                    "as one head of J x d (a d=64 engine on the d=32 MiniLM data: 2)")
    pw.add_argument("--random", type=POSITIVE, metavar="N", help="random rows of N keys instead of the data "
                    "(needs --d; --rows of them, default 8)")
    pw.add_argument("--seed", type=int, default=1, help="seed of random rows, valid gaps and the flip-flops' "
                    "power-up values (default 1)")
    pw.add_argument("--activity", choices=ACTIVITY, default="netlist", help="where the switching activity comes "
                    "from: netlist (default), flashd's own zero-delay simulation of the flat netlist, nothing to build; "
                    "verilator, the SAIF of a Verilator gate-level model (minutes of C++ build at d=64)")
    pw.add_argument("--inputs", choices=INPUTS, help="when the engine's inputs change: registered (the default with "
                    "--activity netlist: at the rising edge with the flip-flops, as from registers on the same clock) "
                    "or bench (at the falling edge, as the cocotb bench drives them: --activity verilator's only timing)")
    pw.add_argument("--skip-study", dest="skip_study", action="store_true", help="FLASH-D: the engine at its default "
                    "thresholds, with skipping disabled and at the published rule: power beside real-data error")
    pw.add_argument("--heads", type=POSITIVE, default=8, help="with --skip-study: real heads the error is measured "
                    "on (default 8)")
    pw.add_argument("--json", help="also write the report as JSON here")
    _engine_options(pw)
    pw.set_defaults(func=cmd_power)

    one = names("one")
    oa = sub.add_parser("ops-area", help="single operators synthesized: generic cells beside FloPoCo's, and GE")
    oa.add_argument("--fmt", type=_list(_format), default=["bf16", "fp16", "fp32", "fp8_e4m3"],
                    help="formats (default bf16,fp16,fp32,fp8_e4m3)")
    oa.add_argument("--ops", type=_list(_choice(one, "operator")), default=one,
                    help=f"one-format operators (default all: {','.join(one)})")
    library_options(oa)
    oa.add_argument("--parts", action="store_true", help="also each step of add, mul and fma on its own")
    oa.add_argument("--out", help="also write the Markdown here")
    oa.set_defaults(func=cmd_ops_area)

    r = sub.add_parser("regress", help="simulate one-format operators against the golden model")
    r.add_argument("--fmt", type=_format, default="bf16", help="format (default bf16)")
    simple = [n for n, o in OPERATORS.items() if o.formats != "convert"]
    r.add_argument("--ops", type=_list(_choice(simple, "operator")), default=["add", "mul"],
                   help=f"operators (default add,mul; allowed: {','.join(simple)})")
    r.add_argument("--stages", type=_int_range(0), default=2, help="register ranks per operator (default 2)")
    r.add_argument("--sim", type=_list(_choice(SIMULATORS, "simulator")), default=list(SIMULATORS),
                   help="simulators (default icarus,verilator)")
    r.add_argument("--waves", action="store_true", help=WAVES_HELP)
    r.add_argument("--count", type=POSITIVE, default=20000, help="random vectors per operator (default 20000)")
    r.set_defaults(func=cmd_regress)

    c = sub.add_parser("coeffs", help="print a fitted table (interval, a, b per piece)")
    c.add_argument("--func", dest="function", required=True, choices=list(FUNCTIONS), help="the function")
    c.add_argument("--fmt", type=_format, default="bf16", help="format of the coefficients (default bf16)")
    c.add_argument("--segments", type=int, default=8, metavar="|".join(map(str, SEGMENT_CHOICES)),
                   help="table pieces (logsigmoid: per binade; default 8)")
    c.set_defaults(func=cmd_coeffs)

    k = sub.add_parser("characterize", help="exhaustive error table of the nonlinear units")
    k.add_argument("--func", dest="function", type=_list(_choice(list(FUNCS), "function")), default=list(FUNCS),
                   help=f"functions (default {','.join(FUNCS)})")
    k.add_argument("--fmt", type=_list(_format), default=["bf16", "fp16", "fp8_e4m3"],
                   help="formats (default bf16,fp16,fp8_e4m3)")
    k.add_argument("--segments", type=_list(POSITIVE), default=[4, 8, 16, 32], help="table sizes (default 4,8,16,32)")
    k.set_defaults(func=cmd_characterize)
    return ap, sub.choices


def main(argv=None):
    """Run one command; returns the exit code (2: bad input, named in the message; 1: a
    regression failed)."""
    try:
        args = _parser()[0].parse_args(argv)
    except SystemExit as e:                    # argparse has printed what was wrong
        return e.code
    if args.verbose:
        os.environ["FLASHD_VERBOSE"] = "1"
    if getattr(args, "waves", False):
        os.environ["FLASHD_WAVES"] = "1"
    try:
        return args.func(args)
    except (ValueError, TypeError, RuntimeError) as e:     # RuntimeError: SynthError, a missing simulator
        print(f"flashd: error: {e}", file=sys.stderr)
        return 2
    except AssertionError as e:
        print(f"flashd: regression FAILED\n{e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
