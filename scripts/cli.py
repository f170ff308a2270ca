"""``flashd``: the command line.

    flashd generate OP [--fmt F | --fmt-in F --fmt-out F] [--stages S] [--n N] [--out DIR]
    flashd generate fa2|flashd --d D [--fmt F] [--acc-fmt F] [--scalar-fmt F] [--stages S]
                    [--interleave P] [--saturation exact|published] [--update lerp|blend] ...
    flashd run      [--npz FILE] [--prefix P] [--design fa2,flashd] [engine options]
                    [--rtl icarus|verilator] [--rtl-groups G]
    flashd verify   --d D [--design fa2,flashd] [--keys 16,8] [--sim icarus|verilator] [engine options]
    flashd accuracy [--fmt F] [--heads H]                  (error table on the shared data)
    flashd synth    fa2|flashd --d D [--fmt F] [--liberty LIB] [--generic] [engine options]
    flashd ops-area [--fmt F,...] [--ops add,mul,...] [--parts] [--out MD]  (generic cells vs FloPoCo, GE)
    flashd tradeoff [--d 64] [--fmt bf16] [--heads 8] [--out DIR]  (area beside real-data error)
    flashd compare  [--d 16,32,64,128] [--fmt bf16,fp16,fp32,fp8_e4m3] [--liberty LIB] [--out DIR] [--jobs J]
    flashd regress  [--fmt F] [--ops add,mul,...] [--sim icarus,verilator] [--count C]
    flashd coeffs   --func ln|reciprocal --fmt F --segments S     (regenerates a table)
    flashd characterize [--func ...] [--fmt ...] [--segments ...] (exhaustive error table)

``generate`` writes ``<module>.v`` and a ``<module>.json`` sidecar (ports, parameters,
latency, throughput); the module name encodes the parameters.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from flashd.hdl.format import PRESETS, as_format, check_int
from flashd.hdl.nonlinear import NONLINEAR
from flashd.hdl.ops import OPERATORS

from flashd.hdl.params import DESIGNS as ENGINES
from flashd.hdl.params import engine_params

UNITS = {**OPERATORS, **NONLINEAR}
ENGINE_OPTIONS = ("d", "fmt", "acc_fmt", "scalar_fmt", "stages", "interleave", "guard_bits", "saturation",
                  "update", "skip_below", "copy_above", "exp_segments", "recip_segments", "lsig_segments",
                  "ln_segments", "sigmoid_segments")
ONE_FORMAT = ("add", "mul", "compare", "reciprocal", "ln", "sigmoid", "logsigmoid", "exp")
OPS_AREA = ("add", "mul", "fma", "compare", "reciprocal", "ln", "sigmoid", "logsigmoid", "exp")  # one-format units


def _spec(op, args):
    spec = {"op": op, "stages": args.stages}
    if op in ONE_FORMAT:
        spec["fmt"] = args.fmt
    else:
        spec["fmt_in"] = args.fmt_in or args.fmt
        fo = args.fmt_out
        if op == "convert" and fo is None:
            raise ValueError("convert needs --fmt-out (allowed: " + ", ".join(PRESETS) + ")")
        if fo is not None:
            spec["fmt_out"] = fo
    if op in NONLINEAR:
        spec["segments"] = args.segments
    if op == "dot":
        spec["n"] = args.n
        if args.exact:
            spec["exact"] = True
        elif args.guard_bits is not None:
            spec["guard_bits"] = args.guard_bits
    return spec


def module_name(spec):
    parts = ["flashd", spec["op"]]
    for key in ("fmt", "fmt_in", "fmt_out"):
        if key in spec:
            parts.append(str(spec[key]))
    if "n" in spec:
        parts.append(f"n{spec['n']}")
    if "segments" in spec:
        parts.append(f"seg{spec['segments']}")
    if spec.get("exact"):
        parts.append("exact")
    elif "guard_bits" in spec:
        parts.append(f"g{spec['guard_bits']}")
    parts.append(f"s{spec['stages']}")
    return "_".join(parts)


def engine_kwargs(args, design):
    """Engine constructor arguments from parsed options (only those given, so the engine's
    own defaults apply); options the design does not take are an error."""
    kw = {k: getattr(args, k) for k in ENGINE_OPTIONS if getattr(args, k, None) is not None}
    own = {"fa2": ("exp_segments", "recip_segments"),
           "flashd": ("saturation", "update", "skip_below", "copy_above", "exp_segments", "lsig_segments",
                      "ln_segments", "sigmoid_segments")}
    others = set(ENGINE_OPTIONS[7:]) - set(own[design])
    bad = sorted(k for k in kw if k in others)
    if bad:
        raise ValueError(f"--{bad[0].replace('_', '-')} does not apply to {design} "
                         f"(its options: {', '.join('--' + o.replace('_', '-') for o in own[design])})")
    for k in ("skip_below", "copy_above"):
        if k in kw:
            kw[k] = _threshold(k, kw[k])
    return kw


def _threshold(name, text):
    if text in ("none", "default"):
        return None if text == "none" else "default"
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--{name.replace('_', '-')} {text!r}: need a number, 'none' or 'default'") from None


def generate_engine(design, kw, out_dir):
    from flashd.hdl.attention import build_engine
    from flashd.verif.harness import describe_fields
    from flashd.verif.sim import write_verilog
    params = engine_params(design, **kw)
    engine = build_engine(params)
    name = params.module_name
    P = params.interleave
    sidecar = {
        "module": name, "parameters": params.as_dict(), "latency_cycles": params.latency,
        "latency": "cycles from the acceptance of a row's last (k, v) pair to that row's o.valid",
        "throughput": f"{params.throughput} (k, v) pair per cycle; {P} row(s) interleaved round-robin",
        "ports": {"clk": "clock", "rst": "synchronous reset",
                  "i__payload": describe_fields(engine.i.payload.shape()), "i__valid": 1, "i__ready": 1,
                  "o__payload": describe_fields(engine.o.payload.shape()), "o__valid": 1},
        "field_format": "{name: [bit offset, element width, element count]}",
    }
    path = write_verilog(engine, name, out_dir, sidecar)
    return path, sidecar


def generate(spec, out_dir):
    from flashd.verif.harness import describe_fields, make_unit
    from flashd.verif.sim import write_verilog
    unit = make_unit(spec)
    name = module_name(spec)
    sidecar = {
        "module": name, "parameters": spec, "latency_cycles": unit.latency,
        "throughput": "1 result per cycle",
        "ports": {"clk": "clock (present when latency > 0)", "rst": "synchronous reset of the valid bits",
                  "i__payload": describe_fields(unit.i.payload.shape()), "i__valid": 1,
                  "o__payload": describe_fields(unit.o.payload.shape()), "o__valid": 1},
        "field_format": "{name: [bit offset, element width, element count]}",
    }
    path = write_verilog(unit, name, out_dir, sidecar)
    return path, sidecar


def _engine_options(p, fmt, d=True):
    if d:
        p.add_argument("--d", type=int, default=None, help="engines: head dimension")
    p.add_argument("--acc-fmt", dest="acc_fmt", help="engines: format of the d output lanes")
    p.add_argument("--scalar-fmt", dest="scalar_fmt", help="engines: format of the one-lane score path")
    p.add_argument("--interleave", type=int, help="engines: rows interleaved round-robin (P)")
    p.add_argument("--saturation", help="flashd: exact (default) or published")
    p.add_argument("--update", help="flashd: lerp (default) or blend")
    p.add_argument("--skip-below", dest="skip_below", help="flashd: threshold, a number, none or default")
    p.add_argument("--copy-above", dest="copy_above", help="flashd: threshold, a number, none or default")
    for name in ("exp", "recip", "lsig", "ln", "sigmoid"):
        p.add_argument(f"--{name}-segments", dest=f"{name}_segments", type=int)
    if fmt:
        p.add_argument("--stages", type=int, default=None)
        p.add_argument("--guard-bits", dest="guard_bits", type=int)


def _data_path(npz):
    """The ``--npz`` file, or the shared MiniLM data; an error naming the file if missing."""
    from flashd.verif.accuracy import SHARED_DATA
    path = Path(npz) if npz else SHARED_DATA
    if not path.is_file():
        raise ValueError(f"--npz {path}: no such file" + ("" if npz else " (the shared MiniLM data sits in "
                                                            "../shared/data; or pass --npz FILE)"))
    return path


def _designs(text):
    designs = [x for x in text.split(",") if x]
    bad = [x for x in designs if x not in ENGINES]
    if bad:
        raise ValueError(f"--design {','.join(bad)} unknown (allowed: {', '.join(ENGINES)})")
    return designs


def run(args):
    """``flashd run``: model error statistics per design, optionally an RTL cross-check."""
    import numpy as np
    from flashd.verif import model
    from flashd.verif.accuracy import evaluate, load_qkv
    from flashd.verif.attention_model import engine_params
    path = _data_path(args.npz)
    prefix = args.prefix if args.prefix or args.npz else "t0_l2"
    Q, K, V = load_qkv(path, prefix)
    designs = _designs(args.design)
    d = Q.shape[2]
    problems = [(f"h{h}", Q[h], K[h], V[h]) for h in range(Q.shape[0])]
    print(f"{path.name}{':' + prefix if prefix else ''}: {Q.shape[0]} head(s), {Q.shape[1]} rows, "
          f"N={K.shape[1]}, d={d}; error against float64 softmax attention of the quantized inputs")
    for design in designs:
        kw = engine_kwargs(args, design)
        kw.setdefault("fmt", args.fmt)
        p = engine_params(design, d=d, **kw)
        t = time.time()
        r = evaluate(p, problems)
        print(f"{design}: max abs {r['max_abs']:.4g}, max rel {r['max_rel']:.4g}, RMS rel {r['rms_rel']:.4g} "
              f"(floor: RMS rel {r['floor_rms_rel']:.4g}); skipped {100 * r['skip']:.1f}%, "
              f"copied {100 * r['copy']:.1f}% of lane updates; {r['rows']} rows in {time.time() - t:.1f} s")
        if args.rtl:
            from flashd.verif.attention_bench import regress_engine
            P = p.interleave
            fmt = p.fmt
            groups = []
            for g in range(args.rtl_groups):
                rows = Q[0, g * P:(g + 1) * P]
                if len(rows) < P:
                    break
                q = model.from_float(fmt, rows)
                k = np.broadcast_to(model.from_float(fmt, K[0]), (P,) + K[0].shape)
                v = np.broadcast_to(model.from_float(fmt, V[0]), (P,) + V[0].shape)
                groups.append((q, k, v))
            print(regress_engine(design, args.rtl, f"run_{design}", groups, d=d, **kw))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="flashd", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write Verilog and a JSON sidecar for an operator or an engine")
    g.add_argument("op", choices=sorted(UNITS) + sorted(ENGINES))
    g.add_argument("--fmt", default="bf16", help="format of add/mul/compare, default input format of the others")
    g.add_argument("--fmt-in", dest="fmt_in")
    g.add_argument("--fmt-out", dest="fmt_out")
    g.add_argument("--stages", type=int, default=0)
    g.add_argument("--n", type=int, default=4, help="dot: number of terms")
    g.add_argument("--guard-bits", dest="guard_bits", type=int)
    g.add_argument("--exact", action="store_true", help="dot: exact (Kulisch-style) window")
    g.add_argument("--segments", type=int, default=8, help="reciprocal/ln: table segments")
    g.add_argument("--out", default="build/generated")
    _engine_options(g, fmt=False)
    u = sub.add_parser("run", help="engine models (and optionally RTL) on Q/K/V from an .npz: error statistics")
    u.add_argument("--npz", help="file with q, k, v (or <prefix>_q, ...); default: ../shared/data/minilm_qkv.npz")
    u.add_argument("--prefix", help="array name prefix, e.g. t0_l2 (shared data default: t0_l2)")
    u.add_argument("--design", default="fa2,flashd")
    u.add_argument("--fmt", default="bf16")
    u.add_argument("--rtl", choices=["icarus", "verilator"], help="also simulate the first rows bit-exact")
    u.add_argument("--rtl-groups", dest="rtl_groups", type=int, default=2, help="groups of P rows to simulate")
    _engine_options(u, fmt=True, d=False)
    vf = sub.add_parser("verify", help="random rows through an engine's RTL, bit-exact against the model")
    vf.add_argument("--design", default="fa2,flashd")
    vf.add_argument("--d", type=int, required=True)
    vf.add_argument("--fmt", default="bf16")
    vf.add_argument("--keys", default="16,8", help="keys per group of P rows, e.g. 16,8 (two groups)")
    vf.add_argument("--sim", choices=["icarus", "verilator"], default="icarus")
    vf.add_argument("--seed", type=int, default=1)
    _engine_options(vf, fmt=True, d=False)
    a = sub.add_parser("accuracy", help="error table of the standard configurations on the shared data")
    a.add_argument("--fmt", default="bf16")
    a.add_argument("--heads", type=int, default=None, help="a fixed subset of heads (default: all 216)")
    a.add_argument("--npz", default=None)
    a.add_argument("--skip-sweep", dest="skip_sweep", help="FLASH-D thresholds to sweep instead, e.g. none,-10,-8,-6 "
                   "(with --scalar-fmt, default fp32)")
    a.add_argument("--scalar-fmt", dest="scalar_fmt", default="fp32")
    y = sub.add_parser("synth", help="Yosys area report of one engine (per functional unit)")
    y.add_argument("design", choices=sorted(ENGINES))
    y.add_argument("--d", type=int, default=None)
    y.add_argument("--fmt", default="bf16")
    y.add_argument("--liberty", help="a Liberty file instead of the built-in GE library")
    y.add_argument("--generic", action="store_true", help="generic gates (abc -g ...), cell counts")
    y.add_argument("--json", help="also write the report as JSON here")
    _engine_options(y, fmt=True, d=False)
    oa = sub.add_parser("ops-area", help="single operators synthesized: generic cells beside FloPoCo's, and GE")
    oa.add_argument("--fmt", default="bf16,fp16,fp32,fp8_e4m3")
    oa.add_argument("--ops", default=",".join(OPS_AREA))
    oa.add_argument("--liberty")
    oa.add_argument("--parts", action="store_true", help="also each step of add, mul and fma on its own")
    oa.add_argument("--out", help="also write the Markdown here")
    cp = sub.add_parser("compare", help="FLASH-D vs FA2 area sweep: table, CSV/JSON and plot")
    cp.add_argument("--d", dest="ds", default="16,32,64,128")
    cp.add_argument("--fmt", dest="fmts", default="bf16,fp16,fp32,fp8_e4m3")
    cp.add_argument("--liberty")
    cp.add_argument("--out", default="build/compare")
    cp.add_argument("--jobs", type=int, default=1, help="configurations synthesized at once (one Yosys each)")
    t = sub.add_parser("tradeoff", help="area beside real-data error for the standard configurations")
    t.add_argument("--d", type=int, default=64, help="head dimension of the synthesized engines")
    t.add_argument("--fmt", default="bf16")
    t.add_argument("--heads", type=int, default=8, help="heads of the real data to evaluate")
    t.add_argument("--npz", help="data file (default: the shared MiniLM data)")
    t.add_argument("--liberty")
    t.add_argument("--out", default="build/tradeoff", help="directory for tradeoff.md and tradeoff.json")
    r = sub.add_parser("regress", help="simulate operators against the golden model")
    r.add_argument("--fmt", default="bf16", choices=sorted(PRESETS))
    r.add_argument("--ops", default="add,mul")
    r.add_argument("--stages", type=int, default=2)
    r.add_argument("--sim", default="icarus,verilator")
    r.add_argument("--count", type=int, default=20000)
    c = sub.add_parser("coeffs", help="print a fitted table (a, b per segment)")
    c.add_argument("--func", required=True, choices=sorted(NONLINEAR))
    c.add_argument("--fmt", default="bf16")
    c.add_argument("--segments", type=int, default=8)
    k = sub.add_parser("characterize", help="exhaustive error table of the nonlinear units")
    k.add_argument("--func", default="reciprocal,ln,sigmoid,exp")
    k.add_argument("--fmt", default="bf16,fp16,fp8_e4m3")
    k.add_argument("--segments", default="4,8,16,32")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "coeffs":
            from flashd.hdl.pwl import coefficients
            from flashd.verif.model import decode
            fmt = as_format(args.fmt)
            a, b = coefficients(args.func, fmt, args.segments)
            print(f"{args.func} on m in [1, 2), {args.segments} segments, {fmt}: y = a*m + b")
            for i, (x, y) in enumerate(zip(a, b)):
                lo = 1 + i / args.segments
                print(f"  [{lo:.6f}, {lo + 1 / args.segments:.6f})  a={decode(fmt, x)}  b={decode(fmt, y)}")
        elif args.cmd == "characterize":
            from flashd.verif.characterize import FUNCS, table
            funcs = args.func.split(",")
            bad = [f for f in funcs if f not in FUNCS]
            if bad:
                raise ValueError(f"--func {','.join(bad)} unknown (allowed: {', '.join(FUNCS)})")
            fmts = [as_format(f).name for f in args.fmt.split(",")]
            print(table(funcs, fmts, [int(v) for v in args.segments.split(",")]))
        elif args.cmd == "generate" and args.op in ENGINES:
            if args.d is None:
                raise ValueError(f"{args.op} needs --d (the head dimension, >= 1)")
            path, side = generate_engine(args.op, engine_kwargs(args, args.op), args.out)
            print(f"wrote {path} and {path.with_suffix('.json')} (latency {side['latency_cycles']} cycles, "
                  f"{side['throughput']})")
        elif args.cmd == "run":
            return run(args)
        elif args.cmd == "verify":
            from flashd.verif.attention_bench import regress_engine
            check_int("--d", args.d, 1, 1024)
            keys = [int(x) for x in args.keys.split(",") if x]
            for n in keys:
                check_int("--keys", n, 1, 4096)
            for design in _designs(args.design):
                kw = engine_kwargs(args, design)
                kw.setdefault("fmt", args.fmt)
                t = time.time()
                res = str(regress_engine(design, args.sim, f"verify_{design}", keys, seed=args.seed, **kw)).strip()
                print(f"{design} d={args.d} {kw['fmt']} on {args.sim}: {res} ({time.time() - t:.0f} s)", flush=True)
        elif args.cmd == "synth":
            from flashd.synth.report import engine_report, markdown
            if args.d is None:
                raise ValueError(f"{args.design} needs --d (the head dimension, >= 1)")
            kw = engine_kwargs(args, args.design)
            kw.setdefault("fmt", args.fmt)
            rep = engine_report(args.design, liberty=args.liberty, mode="generic" if args.generic else "cells",
                                progress=lambda m: print(m, flush=True), **kw)
            print(markdown(rep))
            if args.json:
                Path(args.json).write_text(json.dumps(rep, indent=1))
        elif args.cmd == "ops-area":
            from flashd.synth.report import operator_table
            from flashd.synth.parts import STEPS, parts_table
            ops = [o for o in args.ops.split(",") if o]
            bad = [o for o in ops if o not in OPS_AREA]
            if bad:
                raise ValueError(f"--ops {','.join(bad)} not supported (allowed: {', '.join(OPS_AREA)})")
            fmts = [as_format(f).name for f in args.fmt.split(",") if f]
            say = (lambda m: print(m, flush=True))
            md = operator_table(fmts, ops, liberty=args.liberty, progress=say)
            stepped = [o for o in ops if o in STEPS]
            if args.parts and stepped:
                md += "\n\nWhere the area goes (each step synthesized on its own):\n\n" + parts_table(
                    stepped, fmts, liberty=args.liberty, progress=say)
            print(md)
            if args.out:
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                Path(args.out).write_text(md + "\n")
                print(f"wrote {args.out}")
        elif args.cmd == "compare":
            from flashd.synth.report import compare, table
            ds = [int(x) for x in args.ds.split(",") if x]
            fmts = [as_format(f).name for f in args.fmts.split(",") if f]
            for d in ds:
                check_int("--d", d, 1, 1024)
            check_int("--jobs", args.jobs, 1, 64)
            rows = compare(ds, fmts, liberty=args.liberty, out_dir=args.out, progress=lambda m: print(m, flush=True),
                           jobs=args.jobs)
            print(table(rows))
        elif args.cmd == "tradeoff":
            from flashd.synth.report import tradeoff
            from flashd.verif.accuracy import heads
            check_int("--d", args.d, 1, 1024)
            check_int("--heads", args.heads, 1, 1 << 20)
            path = _data_path(args.npz)
            rows, md = tradeoff(as_format(args.fmt).name, args.d, heads(path, args.heads), liberty=args.liberty,
                                progress=lambda m: print(m, flush=True))
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "tradeoff.md").write_text(md + "\n")
            (out / "tradeoff.json").write_text(json.dumps(rows, indent=1))
            print(md)
            print(f"wrote {out}/tradeoff.md and tradeoff.json")
        elif args.cmd == "accuracy":
            from flashd.verif.accuracy import configs, heads, table
            if args.heads is not None:
                check_int("--heads", args.heads, 1, 1 << 20)
            path = _data_path(args.npz)
            problems = heads(path, args.heads)
            d = problems[0][1].shape[1]
            print(f"{len(problems)} heads of {path.name}, fmt {as_format(args.fmt).name}, d {d}")
            if args.skip_sweep:
                from flashd.verif.attention_model import engine_params
                sweep = [_threshold("skip_below", x) for x in args.skip_sweep.split(",") if x]
                print(table([(f"FLASH-D scalar {args.scalar_fmt}, skip_below {x}",
                              engine_params("flashd", d=d, fmt=args.fmt, scalar_fmt=args.scalar_fmt, skip_below=x))
                             for x in sweep], problems))
            else:
                print(table(configs(args.fmt, d), problems))
        elif args.cmd == "generate":
            path, side = generate(_spec(args.op, args), args.out)
            print(f"wrote {path} and {path.with_suffix('.json')} (latency {side['latency_cycles']} cycles)")
        else:
            from flashd.verif.bench import regress
            ops = [o for o in args.ops.split(",") if o]
            bad = [o for o in ops if o not in UNITS]
            if bad:
                raise ValueError(f"--ops {','.join(bad)} unknown (allowed: {', '.join(UNITS)})")
            args.fmt_in = args.fmt_out = None
            args.n, args.exact, args.guard_bits, args.segments = 4, False, None, 8
            specs = [{"name": o, **_spec(o, args)} for o in ops if o != "convert"]
            for sim in args.sim.split(","):
                t = time.time()
                print(regress(specs, sim, f"regress_{args.fmt}_{'_'.join(ops)}", count=args.count))
                print(f"[{sim}] passed in {time.time() - t:.1f} s")
    except (ValueError, TypeError) as e:
        print(f"flashd: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:                  # SynthError, a missing simulator: the message says what
        print(f"flashd: error: {e}", file=sys.stderr)
        return 2
    except AssertionError as e:
        print(f"flashd: regression FAILED\n{e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
