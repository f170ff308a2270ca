"""Commands of the generator: ``generate`` (Verilog and a JSON sidecar), ``coeffs`` (one
fitted table) and ``characterize`` (the nonlinear units' error)."""

from flashd import generate
from flashd.hdl.format import as_format
from flashd.hdl.params import MAX_D
from flashd.hdl.pwl import FUNCTIONS, SEGMENT_CHOICES, check_segments, coefficients, intervals
from flashd.verif.designs import DESIGNS
from flashd.verif.model import decode
from flashd.verif.registry import OPERATORS

from .options import (
    OPERATOR_ONLY,
    engine_kwargs,
    engine_options,
    fmt_type,
    op_spec,
    operator_options,
)

__all__ = ["register"]


def cmd_generate(args):
    """Verilog and a JSON sidecar for an operator or an engine."""
    if args.op in DESIGNS:
        if args.d is None:
            raise ValueError(f"{args.op} needs --d (the head dimension, 1..{MAX_D})")
        op_only = [k for k in OPERATOR_ONLY if getattr(args, k) is not None]
        if op_only or args.exact:
            raise ValueError(f"--{(op_only or ['exact'])[0].replace('_', '-')} applies to operators, not to {args.op}")
        what = DESIGNS[args.op].parameters(d=args.d, fmt=args.fmt or "bf16", **engine_kwargs(args, args.op))
    else:
        what = op_spec(args, args.op)
    g = generate(what, args.out)
    print(f"wrote {g.path} and {g.path.with_suffix('.json')} (latency {g.sidecar['latency_cycles']} cycles, "
          f"{g.sidecar['throughput']})")
    return 0


def cmd_coeffs(args):
    """One fitted table: each piece's interval and its line a*x + b."""
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


def register(sub):
    ops = {n: OPERATORS[n].category for n in OPERATORS}
    g = sub.add_parser("generate", help="Verilog and a JSON sidecar for an operator or an engine",
                       epilog="operators: " + ", ".join(f"{n} ({c})" for n, c in ops.items())
                       + "; engines: " + ", ".join(DESIGNS))
    g.add_argument("op", choices=list(OPERATORS) + list(DESIGNS), metavar="OP",
                   help="an operator or an engine (listed below)")
    g.add_argument("--fmt", type=fmt_type, help="format of a one-format operator or of an engine's q, k, v "
                   "(default bf16); input format of the others")
    operator_options(g)
    g.add_argument("--out", default="build/generated", help="output directory (default build/generated)")
    engine_options(g)
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("coeffs", help="print a fitted table (interval, a, b per piece)")
    c.add_argument("--func", dest="function", required=True, choices=list(FUNCTIONS), help="the function")
    c.add_argument("--fmt", type=fmt_type, default="bf16", help="format of the coefficients (default bf16)")
    c.add_argument("--segments", type=int, default=8, metavar="|".join(map(str, SEGMENT_CHOICES)),
                   help="table pieces (logsigmoid: per binade; default 8)")
    c.set_defaults(func=cmd_coeffs)

