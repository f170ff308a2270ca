"""``flashd``: the command line.

    flashd generate OP [--fmt F | --fmt-in F --fmt-out F] [--stages S] [--n N] [--out DIR]
    flashd regress  [--fmt F] [--ops add,mul,...] [--sim icarus,verilator] [--count C]
    flashd coeffs   --func ln|reciprocal --fmt F --segments S     (regenerates a table)
    flashd characterize [--func ...] [--fmt ...] [--segments ...] (exhaustive error table)

``generate`` writes ``<module>.v`` and a ``<module>.json`` sidecar (ports, parameters,
latency, throughput); the module name encodes the parameters.
"""

import argparse
import sys
import time
from pathlib import Path

from flashd.hdl.format import PRESETS, as_format
from flashd.hdl.nonlinear import NONLINEAR
from flashd.hdl.ops import OPERATORS

UNITS = {**OPERATORS, **NONLINEAR}
ONE_FORMAT = ("add", "mul", "compare", "reciprocal", "ln", "sigmoid", "logsigmoid", "exp")


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


def main(argv=None):
    ap = argparse.ArgumentParser(prog="flashd", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write Verilog and a JSON sidecar for one operator")
    g.add_argument("op", choices=sorted(UNITS))
    g.add_argument("--fmt", default="bf16", help="format of add/mul/compare, default input format of the others")
    g.add_argument("--fmt-in", dest="fmt_in")
    g.add_argument("--fmt-out", dest="fmt_out")
    g.add_argument("--stages", type=int, default=0)
    g.add_argument("--n", type=int, default=4, help="dot: number of terms")
    g.add_argument("--guard-bits", dest="guard_bits", type=int)
    g.add_argument("--exact", action="store_true", help="dot: exact (Kulisch-style) window")
    g.add_argument("--segments", type=int, default=8, help="reciprocal/ln: table segments")
    g.add_argument("--out", default="build/generated")
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
    except AssertionError as e:
        print(f"flashd: regression FAILED\n{e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
