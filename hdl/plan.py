"""The engines' functional units and latency from their parameters, nothing built.

Each engine (:mod:`flashd.hdl.attention`) lists its units as hashable :class:`Unit`
descriptions (``{instance name: Unit}``, in the order ``elaborate`` adds them) and states its
latency from the units' own latencies; the parameters (:mod:`flashd.hdl.params`) read the
latency to choose the output stream's defaults, and synthesis lists the units to make each
distinct one once.
"""

from .fixloop import FixLoopStep, FixWeight, ScoreToFixed
from .fixunits import FIX_UNITS
from .nonlinear import FPExp, FPLn, FPLogSigmoid, FPReciprocal, FPSigmoid
from .ops import FPFMA, FPAdd, FPCompare, FPConvert, FPDot, FPMul
from .pipeline import spread
from .unit import Unit

__all__ = ["STREAM_CYCLES", "UNITS", "units_of", "latency_of", "fa2_units", "fa2_latency", "flashd_units",
           "flashd_latency"]

# the beat through the output FIFO (first-word fall-through: readable the cycle after its write)
STREAM_CYCLES = 3


def _unit(cls, *args, **kwargs):
    return Unit(cls, args, tuple(sorted(kwargs.items())))


# the published (pwl) unit of each nonlinear operator; the faithful ones are FIX_UNITS
_TABLE_UNITS = {"exp": FPExp, "reciprocal": FPReciprocal, "logsigmoid": FPLogSigmoid, "ln": FPLn, "sigmoid": FPSigmoid}


def _nonlinear(p, op, stages):
    """The engine's ``op`` unit in its scalar format, of the engine's method."""
    if p.method == "fix":
        return _unit(FIX_UNITS[op], p.scalar_fmt, stages=stages)
    return _unit(_TABLE_UNITS[op], p.scalar_fmt, segments=p.segments_of(op), stages=stages)


def _ring_ranks(P, n):
    """The P - 1 ranks of a ring of ``n`` operators in series, per operator: the first ones
    at the operators' boundaries (an operator puts a single rank at its output), so that one
    rank splits the ring between its first two operators; the last operator's output is the
    state register's input, so it gets ranks last."""
    return spread(P - 1, n)[::-1]


def _converters(u, names, fmt_in, fmt_out):
    """Add a combinational ``fmt_in`` -> ``fmt_out`` converter per name (none when the
    formats are the same)."""
    if fmt_in != fmt_out:
        u.update({name: _unit(FPConvert, fmt_in, fmt_out) for name in names})


def _dot(p):
    return _unit(FPDot, p.fmt, p.scalar_fmt, n=p.d, guard_bits=p.guard_bits, stages=p.stages)


def _lane_converters(p, u):
    _converters(u, [f"v_cvt{j}" for j in range(p.d)], p.fmt, p.acc_fmt)

def _output_converters(p, u):
    _converters(u, [f"out_cvt{j}" for j in range(p.out_lanes or p.d)], p.acc_fmt, p.fmt)


def fa2_units(p):
    """FA2's units: the running max, two exponentials, the l ring, the d lanes (v*e, the o
    ring), the reciprocal and the normalizing multipliers (d, or k on the stream)."""
    P, S, sf, af = p.interleave, p.stages, p.scalar_fmt, p.acc_fmt
    u = {"max": _unit(FPCompare, sf, stages=P - 1),
         "sub_c": _unit(FPAdd, sf, stages=S), "sub_e": _unit(FPAdd, sf, stages=S),
         "exp_c": _nonlinear(p, "exp", stages=S), "exp_e": _nonlinear(p, "exp", stages=S),
         "l_fma": _unit(FPFMA, sf, stages=P - 1),
         "recip": _nonlinear(p, "reciprocal", stages=S)}
    for j in range(p.d):
        u[f"ve{j}"], u[f"o_fma{j}"] = _unit(FPMul, af, stages=S), _unit(FPFMA, af, stages=P - 1)
    for j in range(p.out_lanes or p.d):             # on the output stream's k lanes, or all d
        u[f"norm{j}"] = _unit(FPMul, af, stages=S)
    u["dot"] = _dot(p)
    _converters(u, ["c_cvt", "e_cvt"], sf, af)
    _lane_converters(p, u)
    _converters(u, ["r_cvt"], sf, af)
    _output_converters(p, u)
    return u

def fa2_latency(p, lat):
    """Dot, max ring, subtraction and exponential, v*e, the l/o rings, reciprocal,
    normalization. (The rings' operators hold P - 1 ranks and the two exponential paths
    align: tests/test_params.py checks both.)"""
    P = p.interleave
    tail = STREAM_CYCLES if p.out_lanes else 0
    return lat["dot"] + P + lat["sub_e"] + lat["exp_e"] + lat["ve0"] + P + lat["recip"] + lat["norm0"] + tail

def flashd_units(p):
    """FLASH-D's units: the weight loop (fixed point, or floating point exact or published),
    the d lanes (lerp or blend), the comparators and converters."""
    P, S, sf, af = p.interleave, p.stages, p.scalar_fmt, p.acc_fmt
    if p.loop_frac is not None:                 # the ring: the fixed-point step (P - 1 ranks)
        F, I = p.loop_frac, p.loop_int
        u = {"s_fix": _unit(ScoreToFixed, sf, F, I, stages=S), "loop": _unit(FixLoopStep, F, I, stages=P - 1),
             "w_fix": _unit(FixWeight, af, F, I, stages=S)}
    elif p.saturation == "exact":               # the ring: adder, log-sigmoid (P - 1 ranks)
        r_add, r_lsig = _ring_ranks(P, 2)
        u = {"sub_dx": _unit(FPAdd, sf, stages=S), "add_a": _unit(FPAdd, sf, stages=r_add),
             "lsig": _nonlinear(p, "logsigmoid", stages=r_lsig), "exp_w": _nonlinear(p, "exp", stages=S)}
    else:                                       # the ring: ln, adder, sigmoid
        r_ln, r_add, r_sig = _ring_ranks(P, 3)
        u = {"sub_dx": _unit(FPAdd, sf, stages=S), "ln_w": _nonlinear(p, "ln", stages=r_ln),
             "add_a": _unit(FPAdd, sf, stages=r_add), "sig": _nonlinear(p, "sigmoid", stages=r_sig)}
    if p.update == "lerp":                      # the lane ring: v - o, then the FMA
        r_sub, r_fma = _ring_ranks(P, 2)
        for j in range(p.d):
            u[f"diff{j}"], u[f"o_fma{j}"] = _unit(FPAdd, af, stages=r_sub), _unit(FPFMA, af, stages=r_fma)
    else:                                       # 1 - w and w*v feed-forward, the FMA in the ring
        u["one_minus_w"] = _unit(FPAdd, af, stages=S)
        for j in range(p.d):
            u[f"wv{j}"], u[f"o_fma{j}"] = _unit(FPMul, af, stages=S), _unit(FPFMA, af, stages=P - 1)
    u["dot"] = _dot(p)
    if p.loop_frac is None:
        for threshold, name in (("skip_below", "cmp_skip"), ("copy_above", "cmp_copy")):
            if p.threshold_bits(threshold) is not None:     # combinational comparators
                u[name] = _unit(FPCompare, sf)
        _converters(u, ["w_cvt"], sf, af)
    _lane_converters(p, u)
    _output_converters(p, u)
    return u

def flashd_latency(p, lat):
    """Dot, dx, the weight ring, e^lw (exact), w*v (blend), the lane ring. (Each ring's
    operators hold P - 1 ranks: tests/test_params.py checks it.)"""
    tail = STREAM_CYCLES if p.out_lanes else 0
    front = lat["s_fix"] + lat["w_fix"] if p.loop_frac is not None else lat["sub_dx"] + lat.get("exp_w", 0)
    return lat["dot"] + front + p.interleave + lat.get("wv0", 0) + p.interleave + tail


# each design's (units, latency given the units' latencies)
UNITS = {"fa2": (fa2_units, fa2_latency), "flashd": (flashd_units, flashd_latency)}


def units_of(p):
    """The units of ``p``'s engine, ``{instance name: Unit}``."""
    return UNITS[p.DESIGN][0](p)


def latency_of(p):
    """Cycles from the acceptance of a row's last pair to its output's valid (or first beat),
    from the units' own stated latencies."""
    return UNITS[p.DESIGN][1](p, {name: unit.latency for name, unit in units_of(p).items()})
