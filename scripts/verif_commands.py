"""Commands of verification: ``run`` (models on real or synthetic data, optionally RTL),
``verify`` (random rows through an engine's RTL), ``accuracy`` (the error table) and
``regress`` (operators against the golden model)."""

import argparse
import json
import time

import numpy as np

from flashd.progress import say
from flashd.synth.provenance import provenance
from flashd.verif import model
from flashd.verif.accuracy import accuracy_table, configs, evaluate, heads, load_qkv, measure, synthetic_qkv
from flashd.verif.attention_bench import regress_engine
from flashd.verif.bench import regress
from flashd.verif.cache import cache_dir, entries, evict, parse_size
from flashd.verif.designs import DESIGNS, engine_params
from flashd.verif.registry import OPERATORS, OpSpec
from flashd.verif.sim import SIMULATORS, check_simulator, engine_simulator

from .options import (
    DESIGN_LIST,
    POSITIVE,
    WAVES_HELP,
    D,
    choice,
    comma_list,
    data_options,
    data_path,
    engine_kwargs,
    engine_options,
    fmt_type,
    int_range,
    output_file,
    threshold,
)

__all__ = ["register"]


def cmd_run(args):
    """Model error statistics per design, optionally an RTL cross-check of the first rows."""
    if args.random:
        if args.d is None or args.npz or args.prefix:
            raise ValueError("--random N needs --d (the head dimension) and takes no --npz/--prefix")
        Q, K, V = synthetic_qkv(args.random, args.d, args.seed)
        name = f"synthetic head (seed {args.seed})"
    else:
        if args.d is not None:
            raise ValueError("--d goes with --random (the data's d is its own)")
        path = data_path(args.npz)
        prefix = args.prefix if args.prefix or args.npz else "t0_l2"
        Q, K, V = load_qkv(path, prefix)
        name = f"{path.name}{':' + prefix if prefix else ''}"
    if args.rtl:
        check_simulator(args.rtl)
    d = Q.shape[2]
    problems = [(f"{name} head {h}", Q[h], K[h], V[h]) for h in range(Q.shape[0])]
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
            print(f"{regress_engine(design, args.rtl, f'run_{design}', groups, d=d, fmt=args.fmt, **kw)}"
                  f" ({args.rtl}, {time.time() - t:.0f} s)", flush=True)
    return 0


def cmd_verify(args):
    """Random rows through each design's RTL, bit-exact against the model."""
    if args.sim is None:
        args.sim, why = engine_simulator(args.d)
        print(f"simulator: {args.sim} ({why})")
    check_simulator(args.sim)                   # before any engine is generated
    for design in args.design:
        kw = engine_kwargs(args, design)
        t = time.time()
        res = regress_engine(design, args.sim, f"verify_{design}", args.keys, seed=args.seed, d=args.d, fmt=args.fmt,
                             **kw)
        print(f"{design} d={args.d} {args.fmt} on {args.sim}: {res} ({time.time() - t:.0f} s)", flush=True)
    return 0


def cmd_accuracy(args):
    """Error table of the standard configurations (or a skip-threshold sweep) on real data."""
    path = data_path(args.npz)
    json_path = output_file(args.json, "--json")
    problems = heads(path, args.heads)
    d = problems[0][1].shape[1]
    print(f"{len(problems)} heads of {path.name}, fmt {args.fmt}, d {d}")
    if args.skip_sweep:
        chosen = [(f"FLASH-D scalar {args.scalar_fmt}, skip_below {x}",
                   engine_params("flashd", d=d, fmt=args.fmt, scalar_fmt=args.scalar_fmt, skip_below=x))
                  for x in args.skip_sweep]
    else:
        chosen = configs(args.fmt, d)
    data = {"kind": "accuracy", "data": path.name, "fmt": args.fmt, "d": d, "heads": [p[0] for p in problems],
            "rows": measure(chosen, problems, progress=say), "provenance": provenance(synthesis=False)}
    print(accuracy_table(data))
    if json_path:
        json_path.write_text(json.dumps(data, indent=1))
        print(f"wrote {json_path}")
    return 0


def cmd_regress(args):
    """Operators of one format (fma, dot: in and out) simulated against the golden model."""
    specs = {op: OpSpec(op=op, fmt=args.fmt, stages=args.stages) for op in args.ops}
    for sim in args.sim:
        t = time.time()
        print(regress(specs, sim, f"regress_{args.fmt}_{'_'.join(args.ops)}", count=args.count))
        print(f"[{sim}] passed in {time.time() - t:.1f} s")
    return 0


def cmd_cache(args):
    root = cache_dir()
    if args.action == "info":
        found = entries(root)
        stores = {}
        for e in found:
            store = e.path.parent.relative_to(root).as_posix()
            n, size = stores.get(store, (0, 0))
            stores[store] = (n + 1, size + e.size)
        print(f"cache {root}: {len(found)} entries, {_mib(sum(e.size for e in found))}")
        for store, (n, size) in sorted(stores.items(), key=lambda kv: -kv[1][1]):
            print(f"  {store:<20} {n:>7} entries {_mib(size):>12}")
        return 0
    max_bytes = parse_size(args.max_size) if args.max_size is not None else 0
    removed = evict(max_bytes, root)
    print(f"cache {root}: removed {len(removed)} entries, {_mib(sum(e.size for e in removed))}"
          + (f" (the least recently used, down to {args.max_size})" if args.max_size is not None else ""))
    return 0


def _mib(size):
    return f"{size / 2**20:,.1f} MiB"


def _size(text):
    try:
        parse_size(text)        # refused here, one line, before any work
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def register(sub):
    c = sub.add_parser("cache", help="the cache: its size per store (info), or clean it (all, or the least "
                       "recently used entries down to --max-size)")
    c.add_argument("action", choices=("info", "clean"), help="info: size per store; clean: remove entries")
    c.add_argument("--max-size", dest="max_size", type=_size, metavar="SIZE",
                   help="clean: keep the most recently used entries up to SIZE (e.g. 500M, 2G); default: remove all")
    c.set_defaults(func=cmd_cache)
    designs = ",".join(DESIGNS)
    u = sub.add_parser("run", help="engine models (and optionally RTL) on Q/K/V from an .npz: error statistics")
    data_options(u)
    u.add_argument("--prefix", help="array name prefix, e.g. t0_l2 (shared data default: t0_l2)")
    u.add_argument("--design", type=DESIGN_LIST, default=list(DESIGNS), help=f"designs, comma-separated (default {designs})")
    u.add_argument("--fmt", type=fmt_type, default="bf16", help="format of q, k, v and the output (default bf16)")
    u.add_argument("--rtl", choices=SIMULATORS, help="also simulate the first rows of head 0, bit-exact")
    u.add_argument("--waves", action="store_true", help=WAVES_HELP)
    u.add_argument("--rtl-groups", dest="rtl_groups", type=POSITIVE, default=2, help="groups of P rows to simulate (default 2)")
    u.add_argument("--random", type=POSITIVE, metavar="N", help="a synthetic head instead of the data: N rows "
                   "attending to N keys, q, k, v standard normal (scores of std 2); needs --d")
    u.add_argument("--d", type=D, help="head dimension of --random")
    u.add_argument("--seed", type=int, default=1, help="seed of --random (default 1)")
    engine_options(u, d=False)
    u.set_defaults(func=cmd_run)

    v = sub.add_parser("verify", help="random rows through an engine's RTL, bit-exact against the model")
    v.add_argument("--design", type=DESIGN_LIST, default=list(DESIGNS), help=f"designs, comma-separated (default {designs})")
    v.add_argument("--d", type=D, required=True, help="head dimension")
    v.add_argument("--fmt", type=fmt_type, default="bf16", help="format of q, k, v and the output (default bf16)")
    v.add_argument("--keys", type=comma_list(POSITIVE), default=[16, 8],
                   help="keys per group of P rows, comma-separated (default 16,8: two groups)")
    v.add_argument("--sim", choices=SIMULATORS, help="simulator (default: icarus up to d=16, verilator above)")
    v.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    v.add_argument("--waves", action="store_true", help=WAVES_HELP)
    engine_options(v, d=False)
    v.set_defaults(func=cmd_verify)

    a = sub.add_parser("accuracy", help="error table of the standard configurations on real data")
    data_options(a)
    a.add_argument("--fmt", type=fmt_type, default="bf16", help="input format (default bf16)")
    a.add_argument("--heads", type=POSITIVE, help="a fixed spread-out subset of heads (default: all)")
    a.add_argument("--skip-sweep", dest="skip_sweep", type=comma_list(threshold),
                   help="FLASH-D skip_below thresholds to sweep instead, e.g. none,-10,-8,-6")
    a.add_argument("--scalar-fmt", dest="scalar_fmt", type=fmt_type, default="fp32",
                   help="scalar format of the sweep (default fp32)")
    a.add_argument("--json", help="also write the table's data here (flashd tables renders docs from it)")
    a.set_defaults(func=cmd_accuracy)

    r = sub.add_parser("regress", help="simulate one-format operators against the golden model")
    r.add_argument("--fmt", type=fmt_type, default="bf16", help="format (default bf16)")
    simple = [n for n, o in OPERATORS.items() if o.formats != "convert"]
    r.add_argument("--ops", type=comma_list(choice(simple, "operator")), default=["add", "mul"],
                   help=f"operators (default add,mul; allowed: {','.join(simple)})")
    r.add_argument("--stages", type=int_range(0), default=2, help="register ranks per operator (default 2)")
    r.add_argument("--sim", type=comma_list(choice(SIMULATORS, "simulator")), default=list(SIMULATORS),
                   help="simulators (default icarus,verilator)")
    r.add_argument("--waves", action="store_true", help=WAVES_HELP)
    r.add_argument("--count", type=POSITIVE, default=20000, help="random vectors per operator (default 20000)")
    r.set_defaults(func=cmd_regress)
