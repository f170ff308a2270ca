"""Commands of synthesis: ``synth`` (one engine's area and timing), ``compare`` (designs over
sizes, formats and clocks), ``tradeoff`` (area beside real-data error), ``ops-area`` (single
operators beside FloPoCo's) and ``power`` (power from the netlist's simulation)."""

import json
import sys
from pathlib import Path

import numpy as np

from flashd.hdl.format import as_format
from flashd.hdl.params import MAX_D
from flashd.progress import say
from flashd.synth.flow import check_clock
from flashd.synth.netbench import INPUTS
from flashd.synth.parts import STEPS, parts_table
from flashd.synth.power import ACTIVITY, engine_power, power_text, real_groups, skip_study
from flashd.synth.provenance import provenance
from flashd.synth.report import engine_report, markdown, operator_markdown, operator_report, operator_table
from flashd.synth.results import update_page
from flashd.synth.sta import find_sta
from flashd.synth.sweep import (
    DEFAULT_DESIGNS,
    LADDER,
    clock_table,
    compare,
    compare_at_clock,
    ladder,
    open_executor,
    table,
    tradeoff,
)
from flashd.verif.accuracy import heads, load_qkv
from flashd.verif.characterize import FUNCS, METHODS, measure
from flashd.verif.characterize import table as characterize_table
from flashd.verif.designs import DESIGNS
from flashd.verif.registry import OPERATORS, names

from .options import (
    CONFIG_LIST,
    OPERATOR_ONLY,
    POSITIVE,
    D,
    choice,
    cmd_library,
    comma_list,
    data_options,
    data_path,
    engine_kwargs,
    engine_options,
    fmt_type,
    int_range,
    library_options,
    op_spec,
    operator_options,
    output_dir,
    output_file,
    positive_float,
)

__all__ = ["register"]


def _timing(lib, clocks):
    """A clock needs a library with timing and OpenSTA: both checked before any synthesis."""
    for t in clocks:
        check_clock(t, lib)
    if clocks:
        find_sta()


def cmd_synth(args):
    """One engine synthesized unit by unit (a per-unit area table), or one operator alone; JSON too."""
    json_path = output_file(args.json, "--json")
    if args.design in OPERATORS:
        return _synth_operator(args, json_path)
    if args.d is None:
        raise ValueError(f"{args.design} needs --d (the head dimension, 1..{MAX_D})")
    op_only = [k for k in OPERATOR_ONLY if getattr(args, k) is not None]
    if op_only or args.exact:
        raise ValueError(f"--{(op_only or ['exact'])[0].replace('_', '-')} applies to operators, not to {args.design}")
    kw = engine_kwargs(args, args.design)
    if args.generic and (args.clock_ns or args.pdk or args.liberty):
        raise ValueError("--generic counts generic gates: it takes no --pdk, --liberty or --clock-ns")
    lib = cmd_library(args)
    _timing(lib, [args.clock_ns] if args.clock_ns else [])
    if args.unit_timing and not args.clock_ns:
        raise ValueError("--unit-timing needs --clock-ns (each unit is timed at that clock)")
    rep = engine_report(args.design, library=lib, mode="generic" if args.generic else "cells",
                        clock_ns=args.clock_ns, progress=say, unit_timing=args.unit_timing, d=args.d,
                        fmt=args.fmt or "bf16", **kw)
    print(markdown(rep))
    if json_path:
        json_path.write_text(json.dumps(rep, indent=1))
    return 0


def _synth_operator(args, json_path):
    spec = op_spec(args, args.design)
    if args.unit_timing:
        raise ValueError(f"--unit-timing applies to the engines ({', '.join(DESIGNS)}), not to {args.design}")
    if args.generic and (args.clock_ns or args.pdk or args.liberty):
        raise ValueError("--generic counts generic gates: it takes no --pdk, --liberty or --clock-ns")
    lib = cmd_library(args)
    _timing(lib, [args.clock_ns] if args.clock_ns else [])
    rep = operator_report(spec, library=lib, mode="generic" if args.generic else "cells", clock_ns=args.clock_ns)
    print(operator_markdown(rep))
    if json_path:
        json_path.write_text(json.dumps(rep, indent=1))
    return 0


def _power_rows(args, fmt, d=None):
    """``(d, groups(P), source)`` for a power run: random rows (``--random``) or the rows of one
    head of the data (``--join-heads`` J heads side by side; with ``d`` given, J = d / the data's d)."""
    if getattr(args, "random", None):
        if d is None:
            raise ValueError("--random needs --d (the head dimension)")
        rows = args.rows or 8
        source = f"random rows ({rows} rows of {args.random} keys, seed {args.seed})"
        return d, (lambda P: [args.random] * max(1, rows // P)), source
    path = data_path(args.npz)
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
    real_groups(Q, K, V, fmt, 1, head=head, rows=getattr(args, "rows", None), join=join, source=path.name)  # now, not after a search
    return data_d, (lambda P: real_groups(Q, K, V, fmt, P, head=head, rows=getattr(args, "rows", None), join=join,
                                          source=path.name)[0]), source


def cmd_power(args):
    """Power of one engine from its gate-level simulation on real (or random) rows."""
    json_path = output_file(args.json, "--json")
    lib = cmd_library(args)
    if args.clock_ns is None:
        raise ValueError("power needs --clock-ns (the clock the design is synthesized and timed for)")
    _timing(lib, [args.clock_ns])
    kw = engine_kwargs(args, args.design)
    if ("stages" in kw) != ("interleave" in kw):
        raise ValueError("give both --stages and --interleave, or neither (then the timing flow chooses them)")
    fmt = as_format(args.fmt)
    d, groups, source = _power_rows(args, fmt, args.d)
    if args.skip_study:
        if args.design != "flashd":
            raise ValueError(f"--skip-study is FLASH-D's (its skip and copy thresholds); the design is {args.design}")
        clash = sorted(set(kw) & {"skip_below", "copy_above", "saturation", "stages", "interleave"})
        if clash:
            raise ValueError(f"--skip-study sets {', '.join(clash)} itself (each variant its own design): drop them")
        rows, md = skip_study(fmt.name, d, groups, source, heads(data_path(args.npz), args.heads), library=lib,
                              clock_ns=args.clock_ns, seed=args.seed, progress=say)
        print(md)
        result = rows
    else:
        result = engine_power(args.design, library=lib, clock_ns=args.clock_ns, groups=groups, source=source,
                              seed=args.seed, progress=say, activity=args.activity, inputs=args.inputs, d=d,
                              fmt=fmt.name, **kw)
        print(power_text(result))
        sec = result["seconds"]
        print(f"(synthesis and timing {sec['synthesis_and_timing']} s, flat netlist {sec['flat_netlist']} s, "
              f"simulation model {sec['gate_model']} s, "
              f"gate-level simulation {sec['simulation']} s, power {sec['power']} s; the per-instance OpenSTA run "
              f"took {sec['per_instance_power_beside']} s beside the model and the simulation)")
    if json_path:
        json_path.write_text(json.dumps(result, indent=1))
        print(f"wrote {json_path}")
    return 0


def cmd_ops_area(args):
    """Single operators synthesized: generic cells beside FloPoCo's, and GE; optionally each step."""
    out = output_file(args.out, "--out")
    md = operator_table(args.fmt, args.ops, library=cmd_library(args), progress=say)
    stepped = [o for o in args.ops if o in STEPS]
    if args.parts and stepped:
        md += "\n\nWhere the area goes (each step synthesized on its own):\n\n" + parts_table(
            stepped, args.fmt, library=cmd_library(args), progress=say)
    print(md)
    if out:
        out.write_text(md + "\n")
        print(f"wrote {out}")
    return 0


def _executor(args):
    """The sweep's executor from ``--executor`` / ``--scheduler`` (None: ``--jobs`` local processes)."""
    if (args.executor or args.scheduler) and args.jobs != 1:
        raise ValueError(f"--jobs {args.jobs} with --executor/--scheduler: the cluster's workers are the parallelism")
    return open_executor(args.executor, scheduler=args.scheduler, progress=say)


def executor_options(p):
    p.add_argument("--jobs", type=POSITIVE, default=1, help="configurations (with --clock-ns: timing searches) "
                   "synthesized at once, one local process each")
    p.add_argument("--executor", metavar="local:N", help="run the searches and syntheses on a Dask cluster of N "
                   "workers on this host (the cluster extra)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run them on a running Dask scheduler's workers "
                   "(each with flashd installed; a cache directory they share, --cache-dir, keeps the results)")


def cmd_compare(args):
    """Designs over d x formats: area (GE or a library), or with --clock-ns the smallest
    version of each that meets each clock (table, CSV/JSON and plot)."""
    lib = cmd_library(args)
    if args.preset:
        return _ladder(args, lib)
    if args.power and not args.clock_ns:
        raise ValueError("--power needs --clock-ns (power is reported at the clock each design is timed for)")
    if len(args.designs) < 2 or len(set(args.designs)) != len(args.designs):
        raise ValueError(f"--designs {','.join(args.designs)}: a baseline and at least one other design, each once")
    args.out = output_dir(args.out or ("build/compare_clock" if args.clock_ns else "build/compare"), "--out")
    if args.clock_ns:
        _timing(lib, args.clock_ns)
        power = None
        if args.power:
            for fmt in args.fmts:                       # bad data fails before any synthesis
                for d in args.ds:
                    _power_rows(args, as_format(fmt), d)

            def power(design, clock, parameters):
                q = {k: v for k, v in parameters.items() if k != "design"}
                _, groups, source = _power_rows(args, as_format(q["fmt"]), q["d"])
                return engine_power(design, library=lib, clock_ns=clock, groups=groups, source=source,
                                    progress=say, **q)
        with _executor(args) as executor:
            rows = compare_at_clock(args.ds, args.fmts, args.clock_ns, library=lib, progress=say,
                                    out_dir=args.out or "build/compare_clock", jobs=args.jobs, executor=executor,
                                    power=power, designs=args.designs)
        print(clock_table(rows))
        return 0
    with _executor(args) as executor:
        rows = compare(args.ds, args.fmts, library=lib, out_dir=args.out or "build/compare", progress=say,
                       jobs=args.jobs, executor=executor, designs=args.designs)
    print(table(rows))
    return 0


def _ladder(args, lib):
    """compare --preset ladder: :data:`~flashd.synth.sweep.LADDER` with power on real rows."""
    given = [o for o, v in (("--d", args.ds != [16, 32, 64, 128]), ("--designs", args.designs != list(DEFAULT_DESIGNS)),
                            ("--clock-ns", args.clock_ns)) if v]
    if given:
        raise ValueError(f"--preset {args.preset} sets {', '.join(given)} itself (d={LADDER['d']}, its configurations "
                         f"and clocks {', '.join(f'{c:g}' for c in LADDER['clocks'])} ns)")
    _timing(lib, LADDER["clocks"])
    fmt = as_format(LADDER["fmt"])
    _, groups, source = _power_rows(args, fmt, LADDER["d"])          # bad data fails before any synthesis

    def power(design, clock, parameters):
        q = {k: v for k, v in parameters.items() if k != "design"}
        return engine_power(design, library=lib, clock_ns=clock, groups=groups, source=source, progress=say, **q)
    out = output_dir(args.out or "build/ladder", "--out")
    with _executor(args) as executor:
        md = ladder(heads(data_path(args.npz), args.heads), library=lib, out_dir=out, power=power, progress=say,
                    jobs=args.jobs, executor=executor)
    print(md)
    return 0


def cmd_tradeoff(args):
    """Area at d beside real-data error for the standard configurations."""
    path = data_path(args.npz)
    out = output_dir(args.out, "--out")
    lib = cmd_library(args)
    _timing(lib, [args.clock_ns] if args.clock_ns is not None else [])
    with _executor(args) as executor:
        result, md = tradeoff(args.fmt, args.d, heads(path, args.heads), library=lib, progress=say,
                            clock_ns=args.clock_ns, jobs=args.jobs, executor=executor)
    (out / "tradeoff.md").write_text(md + "\n")
    (out / "tradeoff.json").write_text(json.dumps(result, indent=1))
    print(md)
    print(f"wrote {out}/tradeoff.md and tradeoff.json")
    return 0


def cmd_tables(args):
    """Each page's flashd-table blocks from their JSON; with --check only say which are stale."""
    pages = [Path(p) for p in args.pages]
    for page in pages:
        if not page.is_file():
            raise ValueError(f"page {page}: no such file")
    stale = [(page, path) for page in pages for path in update_page(page, check=args.check)]
    for page, path in stale:
        print(f"{page}: the table from {path} {'is stale' if args.check else 'rewritten'}")
    if args.check and stale:
        print("flashd: run `flashd tables` on these pages", file=sys.stderr)
        return 1
    return 0


def cmd_characterize(args):
    """Every input of each nonlinear unit through its model (wider than 16 bits: a sample of a
    million), both methods: the error table;
    with a library, each unit also synthesized alone (combinational) for its area and delay."""
    json_path = output_file(args.json, "--json")
    unit_cost, lib, clock = None, None, None
    if args.pdk or args.liberty:
        lib, clock = cmd_library(args), args.clock_ns or 1.0
        _timing(lib, [clock])

        def unit_cost(spec):
            rep = operator_report(spec, library=lib, clock_ns=clock)
            return {"area": rep["area"], "delay_ns": rep["timing"]["critical_ns"]}
    elif args.clock_ns is not None:
        raise ValueError("--clock-ns needs --pdk or --liberty (the units are synthesized for their delay)")
    rows = measure(args.function, args.fmt, args.method, args.segments, unit_cost, progress=say)
    print(characterize_table(rows))
    if json_path:
        json_path.write_text(json.dumps({"kind": "characterize", "rows": rows, "clock_ns": clock if lib else None,
                                         "library": lib.name if lib else None,
                                         "provenance": provenance(synthesis=lib is not None, timed=lib is not None)},
                                        indent=1))
    return 0


def register(sub):
    k = sub.add_parser("characterize", help="every input of the nonlinear units (fp32: a million): error table "
                       "(with --pdk, area and delay too), both methods")
    k.add_argument("--func", dest="function", type=comma_list(choice(list(FUNCS), "function")), default=list(FUNCS),
                   help=f"functions (default {','.join(FUNCS)})")
    k.add_argument("--fmt", type=comma_list(fmt_type), default=["bf16", "fp16", "fp8_e4m3"],
                   help="formats (default bf16,fp16,fp8_e4m3; wider than 16 bits: a sample of 10^6 inputs)")
    k.add_argument("--method", type=comma_list(choice(list(METHODS), "method")), default=list(METHODS),
                   help="pwl (the published tables), fix (the faithful units); default both")
    k.add_argument("--segments", type=comma_list(POSITIVE), default=[8], help="pwl table sizes (default 8)")
    library_options(k)
    k.add_argument("--clock-ns", dest="clock_ns", type=positive_float, default=None,
                   help="with --pdk: ABC's delay target when mapping each unit (default 1: as fast as it maps)")
    k.add_argument("--json", help="also write the rows as JSON here (flashd tables renders them)")
    k.set_defaults(func=cmd_characterize)

    y = sub.add_parser("synth", help="Yosys area report of one engine (per functional unit) or of one operator",
                       epilog="operators: " + ", ".join(OPERATORS) + "; engines: " + ", ".join(DESIGNS))
    y.add_argument("design", choices=list(DESIGNS) + list(OPERATORS), metavar="DESIGN|OP",
                   help="an engine or an operator (listed below)")
    y.add_argument("--fmt", type=fmt_type, help="format of an engine's q, k, v and output, or of a one-format "
                   "operator (default bf16); input format of the others")
    operator_options(y)
    library_options(y, clock=True)
    y.add_argument("--generic", action="store_true", help="generic gates (abc -g ...): cell counts instead of area")
    y.add_argument("--unit-timing", dest="unit_timing", action="store_true", help="with --clock-ns: also each unit's "
                   "own worst path (OpenSTA on its netlist alone)")
    y.add_argument("--json", help="also write the report as JSON here")
    engine_options(y)
    y.set_defaults(func=cmd_synth)

    cp = sub.add_parser("compare", help="designs compared (FLASH-D vs FA2 by default): area sweep, table, CSV/JSON, plot")
    cp.add_argument("--d", dest="ds", type=comma_list(D), default=[16, 32, 64, 128], help="head dimensions (default 16,32,64,128)")
    cp.add_argument("--fmt", dest="fmts", type=comma_list(fmt_type), default=["bf16", "fp16", "fp32", "fp8_e4m3"],
                    help="formats (default bf16,fp16,fp32,fp8_e4m3)")
    cp.add_argument("--designs", type=CONFIG_LIST, default=list(DEFAULT_DESIGNS),
                    help=f"the baseline, then the designs compared with it (default {','.join(DEFAULT_DESIGNS)}); "
                    "each a design or design/option=value/...: fa2/out_lanes=8/scalar_fmt=fp32")
    cp.add_argument("--preset", choices=["ladder"], help="ladder: the paper's pair and the strongest pair at bf16 "
                    f"d={LADDER['d']}, clocks {','.join(f'{c:g}' for c in LADDER['clocks'])} ns, with power on real "
                    "rows and each configuration's real-data error (--heads); needs --pdk sky130")
    cp.add_argument("--heads", type=POSITIVE, default=24, help="with --preset: heads of the real data whose error "
                    "is measured (default 24)")
    library_options(cp)
    cp.add_argument("--clock-ns", dest="clock_ns", type=comma_list(positive_float), help="clock periods (ns), "
                    "comma-separated: per engine the fewest stages and smallest interleave that meet each "
                    "(timing-driven synthesis, OpenSTA); needs a library with timing, e.g. --pdk sky130")
    cp.add_argument("--out", help="directory for compare.{md,csv,json,png} (default build/compare; with "
                    "--clock-ns compare_clock.* in build/compare_clock)")
    executor_options(cp)
    cp.add_argument("--power", action="store_true", help="with --clock-ns: also each design's power from its "
                    "gate-level simulation on real rows (heads side by side up to d)")
    data_options(cp)
    cp.add_argument("--prefix", help="with --power: array name prefix (shared data default: t0_l2)")
    cp.set_defaults(func=cmd_compare)

    t = sub.add_parser("tradeoff", help="area beside real-data error for the standard configurations")
    t.add_argument("--d", type=D, default=64, help="head dimension of the synthesized engines (default 64)")
    t.add_argument("--fmt", type=fmt_type, default="bf16", help="input format (default bf16)")
    t.add_argument("--heads", type=POSITIVE, default=8, help="heads of the real data to evaluate (default 8)")
    data_options(t)
    library_options(t, clock=True)
    executor_options(t)
    t.add_argument("--out", default="build/tradeoff", help="directory for tradeoff.md and tradeoff.json")
    t.set_defaults(func=cmd_tradeoff)

    pw = sub.add_parser("power", help="power from a gate-level simulation of the synthesized engine on real data")
    pw.add_argument("design", choices=list(DESIGNS), help="the engine")
    pw.add_argument("--fmt", type=fmt_type, default="bf16", help="format of q, k, v and the output (default bf16)")
    library_options(pw, clock=True)
    data_options(pw)
    pw.add_argument("--prefix", help="array name prefix, e.g. t0_l2 (shared data default: t0_l2)")
    pw.add_argument("--head", type=int_range(0), default=0, help="the head whose rows and keys are simulated (default 0)")
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
    engine_options(pw)
    pw.set_defaults(func=cmd_power)

    one = names("one")
    oa = sub.add_parser("ops-area", help="single operators synthesized: generic cells beside FloPoCo's, and GE")
    oa.add_argument("--fmt", type=comma_list(fmt_type), default=["bf16", "fp16", "fp32", "fp8_e4m3"],
                    help="formats (default bf16,fp16,fp32,fp8_e4m3)")
    oa.add_argument("--ops", type=comma_list(choice(one, "operator")), default=one,
                    help=f"one-format operators (default all: {','.join(one)})")
    library_options(oa)
    oa.add_argument("--parts", action="store_true", help="also each step of add, mul and fma on its own")
    oa.add_argument("--out", help="also write the Markdown here")
    oa.set_defaults(func=cmd_ops_area)

    tb = sub.add_parser("tables", help="rewrite the result tables of Markdown pages from the JSON the flows wrote "
                        "(blocks <!-- flashd-table: FILE.json --> ... <!-- /flashd-table -->)")
    tb.add_argument("pages", nargs="+", metavar="PAGE", help="Markdown files (docs/*.md)")
    tb.add_argument("--check", action="store_true", help="change nothing: name the stale tables, exit 1 if any")
    tb.set_defaults(func=cmd_tables)
