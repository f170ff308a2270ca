"""Fixed-point function units: ``Y ~ f(x)`` for ``x = X / 2**in_bits`` in [0, 1), faithful to
the output's last bit (``|Y / 2**out_frac - f(x)| < 2**-out_frac`` for every input).

:func:`plan` designs the unit: a plain table when the input is narrow, else a piecewise
polynomial of degree 1 or 2 on ``2**k`` equal segments (the top ``k`` input bits index a
coefficient table; the rest, ``t``, is truncated to ``t_bits`` and fed to Horner's rule with
truncated products), the cheapest that meets the error budget (``limit``: 1 ulp, or less
when the caller adds errors of its own) and, when asked (``lean``: a plan that gives a final
significand, with no rounding after it), whose errors do not lean one way. The budget is not
estimated:
up to :data:`EXHAUSTIVE_BITS` input bits the plan evaluates its own integer arithmetic
(:meth:`FixPlan.evaluate`, NumPy) on every input and keeps the error it measured
(``max_err_ulp``, ``mean_err_ulp``), which the tests check against an independent oracle;
wider (fp32's units), ``max_err_ulp`` is a bound computed from the arithmetic (see
:func:`_bounded`) and the mean is measured on a sample. :class:`FixFunctionUnit` is the circuit, written from the
same plan (its tables and widths) and checked bit-exact against :meth:`FixPlan.evaluate`.

The integer arithmetic both follow, with ``r = in_bits - k``, ``i = X >> r``,
``T = (X mod 2**r) >> (r - t_bits)`` and every ``>>`` an arithmetic (flooring) shift::

    degree 1:  A = C0[i] + (C1[i] * T >> t_bits)
    degree 2:  A = C0[i] + ((C1[i] + (C2[i] * T >> t_bits)) * T >> t_bits)
    Y = (A + 2**(guard - 1)) >> guard          (a table: Y = C0[X])

with the coefficients in units of ``2**-(out_frac + guard)``.
"""

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from amaranth import Array, Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .format import check_int

__all__ = ["FIX_FUNCTIONS", "EXHAUSTIVE_BITS", "MAX_IN_BITS", "TABLE_BITS", "FixPlan", "plan", "FixFunctionUnit", "FixOctaves", "octaves",
           "FixOctavesUnit"]

def _ln_ratio(u):
    """ln(1 + u) / u (1 at u = 0); ``ln_ratio`` takes u = m - 1 for m in [1, 1.5) and m/2 - 1
    above, as the fraction bits x = m - 1 pick it (:class:`~flashd.hdl.fixunits.LnDesign`)."""
    safe = np.where(u == 0, 1.0, u)
    return np.where(u == 0, 1.0, np.log1p(safe) / safe)


# f on [0, 1), vectorized (float64: the plan's own error measure; the tests use another oracle)
FIX_FUNCTIONS = {
    "exp2": np.exp2,                                    # 2^x: the significand of an exponential
    "log2_1p": lambda x: np.log2(1.0 + x),              # log2(1 + x): a logarithm's significand
    "recip_1p": lambda x: 1.0 / (1.0 + x),              # 1 / (1 + x): a reciprocal's significand
    "ln_ratio": lambda x: _ln_ratio(np.where(x < 0.5, x, (x - 1) / 2)),  # a logarithm's, by the fraction
    "ln1p_ratio": _ln_ratio,                            # ln(1 + x) / x
    "softplus_ratio": lambda a: np.exp(a) * np.log1p(np.exp(-a)),   # ln(1 + e^-a) * e^a: the log-sigmoid's
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),      # the sigmoid's, of a = |x|
    "softplus": lambda a: np.log1p(np.exp(-a)),         # ln(1 + e^-a): FLASH-D's fixed-point loop
    "log2_sigmoid": lambda a: -np.log2(1.0 + np.exp(-a)),   # log2 sigmoid(a): the sigmoid's exponent correction
}
TABLE_BITS = 8              # inputs this narrow are one table
DEGREE2_GAIN = 1.25         # a degree-2 plan must be this much cheaper than the best degree-1 one
MAX_LEAN = 0.01             # ulps: the mean error asked of a plan that gives a final significand
EXHAUSTIVE_BITS = 22        # up to here every input is evaluated when the plan is made (4M at 22 bits)
MAX_IN_BITS = 32            # beyond, the NumPy model's products outgrow int64
SAMPLES = 256               # points per segment where a bounded plan's polynomial is compared with f


@dataclass(frozen=True)
class FixPlan:
    """A designed unit: its tables (tuples of ints, one per coefficient order) and widths."""
    function: str
    in_bits: int
    out_frac: int
    method: str                 # "table" or "poly"
    k: int                      # index bits (the table's address)
    degree: int                 # 0 for a table
    guard: int                  # extra fraction bits carried until the final rounding
    t_bits: int                 # bits of t kept for the products
    coefficients: tuple         # (C0s, C1s[, C2s]), each a tuple of 2**k ints
    max_err_ulp: float          # measured on every input against float64 f
    mean_err_ulp: float         # the mean signed error (does it lean one way?)
    midpoint: bool = False      # f at the middle of each input step (see _target)
    scale: int = 1              # f of X / 2**in_bits * scale: inputs on [0, scale)
    limit: float = 1.0          # the error allowed (ulps): below 1 when the caller has other errors to add
    start: float = 0            # f of start + X / 2**in_bits * scale: inputs on [start, start + scale)

    @property
    def out_bits(self):
        """Width of Y (two's complement when f is negative somewhere)."""
        return _width(*self.out_range)

    @property
    def bounded(self):
        """True when ``max_err_ulp`` is a computed bound, not a measured maximum."""
        return self.in_bits > EXHAUSTIVE_BITS

    @cached_property
    def out_range(self):
        """The least and greatest Y over every input (a bounded plan: bounds on them, from each
        segment's polynomial at its ends and vertex, less what the flooring shifts lose)."""
        if not self.bounded:
            y = self.evaluate(np.arange(1 << self.in_bits, dtype=np.int64))
            return int(y.min()), int(y.max())
        tau = [0.0, 1.0 - 2.0 ** -self.t_bits]
        C = np.array(self.coefficients, dtype=np.float64)
        if self.degree == 2:
            vertex = -C[1] / np.where(C[2] == 0, 1, 2 * C[2])
            tau = np.concatenate([np.broadcast_to(tau, (C.shape[1], 2)), np.clip(vertex, *tau)[:, None]], axis=1)
        P = sum(C[j][:, None] * np.asarray(tau) ** j for j in range(self.degree + 1))
        lo, hi = math.floor(P.min()) - self.degree, math.floor(P.max())
        half = 1 << (self.guard - 1)
        return (lo + half) >> self.guard, (hi + half) >> self.guard

    def evaluate(self, X):
        """Y for integer inputs ``X`` (NumPy int64), exactly as the circuit computes it."""
        X = np.asarray(X, dtype=np.int64)
        if self.method == "table":
            return np.asarray(self.coefficients[0], dtype=np.int64)[X]
        return (self.accumulate(X) + (1 << (self.guard - 1))) >> self.guard

    def accumulate(self, X):
        """A polynomial plan's sum before the final rounding (the constant terms enter it
        last, unshifted: an offset of theirs moves A by itself)."""
        X = np.asarray(X, dtype=np.int64)
        r = self.in_bits - self.k
        i = X >> r
        T = (X & ((1 << r) - 1)) >> (r - self.t_bits)
        C = [np.asarray(c, dtype=np.int64)[i] for c in self.coefficients]
        acc = C[-1]
        for c in reversed(C[:-1]):
            acc = c + ((acc * T) >> self.t_bits)
        return acc

    @property
    def table_bits(self):
        return (1 << self.k) * sum(_width(min(c), max(c)) for c in self.coefficients)


def _width(lo, hi):
    """Bits of a two's complement (or, when lo >= 0, unsigned) integer holding lo..hi."""
    return max(1, Shape.cast(range(int(lo), int(hi) + 1)).width)


def _target(function, in_bits, midpoint, scale=1, start=0):
    """The function the unit approximates, of x = X / 2**in_bits: ``function`` at start +
    x * scale, or at the middle of x's input step (an input truncated from a longer one is
    half a step low on average)."""
    f, half = FIX_FUNCTIONS[function], 0.5 / 2.0 ** in_bits if midpoint else 0.0
    return lambda x: f(start + (x + half) * scale)


def _errors(f, in_bits, out_frac, Y, fx=None):
    """Max and mean error of outputs ``Y`` (ulps), ``fx`` f on every input if known."""
    if fx is None:
        fx = f(np.arange(1 << in_bits, dtype=np.float64) / 2.0 ** in_bits)
    e = Y / 2.0 ** out_frac - fx
    return float(np.max(np.abs(e))) * 2.0 ** out_frac, float(np.mean(e)) * 2.0 ** out_frac


def _fit(f, k, degree):
    """Per segment, the degree-``degree`` polynomial in t in [0, 1) interpolating f at
    Chebyshev nodes (near minimax): an array (2**k, degree + 1), constant term first."""
    nodes = (1 - np.cos((2 * np.arange(degree + 1) + 1) * np.pi / (2 * degree + 2))) / 2
    V = np.vander(nodes, degree + 1, increasing=True)
    seg = np.arange(1 << k)[:, None]
    values = f((seg + nodes[None, :]) / 2.0 ** k)
    return np.linalg.solve(V, values.T).T


def _poly(function, in_bits, out_frac, k, degree, guard, midpoint=False, scale=1, limit=1.0, start=0):
    """The plan of one (k, degree, guard), or None: ``t_bits`` as few as stay faithful, and the
    constant terms offset (:func:`_offsets`: of the faithful ones, the least mean error), so
    that the errors do not lean one way."""
    r = in_bits - k
    f = _target(function, in_bits, midpoint, scale, start)
    c = _fit(f, k, degree)
    unit = 2.0 ** (out_frac + guard)
    raw = [np.round(c[:, j] * unit).astype(np.int64) for j in range(degree + 1)]
    X = np.arange(1 << in_bits, dtype=np.int64)
    fx = f(X / 2.0 ** in_bits)
    best = None
    for t_bits in range(r, 0, -1):            # fewer bits of t: smaller multipliers, while faithful
        A = FixPlan(function, in_bits, out_frac, "poly", k, degree, guard, t_bits, _offset(raw, 0), 0.0, 0.0).accumulate(X)

        def measure(offset, A=A):             # an offset moves A by itself
            Y = (A + offset + (1 << (guard - 1))) >> guard
            return (*_errors(f, in_bits, out_frac, Y, fx), _offset(raw, offset))
        tried = [(abs(mean), err, mean, coeffs) for err, mean, coeffs in _offsets(degree, guard, measure) if err < limit]
        if not tried:
            break
        _, err, mean, coeffs = min(tried)
        best = FixPlan(function, in_bits, out_frac, "poly", k, degree, guard, t_bits, coeffs, err, mean, midpoint,
                       scale, limit, start=start)
    return best


def _offset(raw, offset):
    """The integer coefficients with ``offset`` added to the constant terms."""
    return (tuple(int(v) + offset for v in raw[0]),) + tuple(tuple(int(v) for v in col) for col in raw[1:])


def _offsets(degree, guard, measure):
    """``measure(offset)`` (error, mean error in ulps, coefficients) of the offsets of the
    constant terms worth trying: 0 to ``degree`` (what the flooring shifts lose), and the one
    that cancels the mean error at 0 with its two neighbours (t's truncation lowers the
    results too)."""
    tried = {o: measure(o) for o in range(degree + 1)}
    best = round(-tried[0][1] * 2 ** guard)
    for o in (best - 1, best, best + 1):
        if o not in tried:
            tried[o] = measure(o)
    return list(tried.values())


def _bounded(function, in_bits, out_frac, k, degree, guard, midpoint=False, scale=1, limit=1.0, start=0):
    """The plan of one (k, degree, guard) too wide to evaluate on every input, or None: its
    error bounded from the arithmetic (in ulps of ``2**-out_frac``), as FloPoCo budgets its
    function units. With ``P`` a segment's polynomial of the integer coefficients in the
    real ``tau = T / 2**t_bits``, the flooring shifts make ``A = P(tau) + offset - D`` with
    ``D`` in [0, degree) (each shift loses less than a unit, the inner one times tau < 1),
    so ``|Y - f(x)| <= 1/2`` (the rounding) ``+ max|P - f| + max(offset, degree - offset) *
    2**-guard + max|f'| * (2**-(k + t_bits) - 2**-in_bits)`` (the bits of t dropped).
    ``max|P - f|`` is taken on :data:`SAMPLES` points per segment and raised by 1% for
    what lies between them (the error curve of a degree-2 fit bends by far less); ``t_bits``
    as few as keep the sum below ``limit``, the offset of the least mean error on a sample."""
    f = _target(function, in_bits, midpoint, scale, start)
    c = _fit(f, k, degree)
    unit = 2.0 ** (out_frac + guard)
    raw = [np.round(c[:, j] * unit).astype(np.int64) for j in range(degree + 1)]
    r = in_bits - k
    tau = np.linspace(0.0, 1.0 - 2.0 ** -r, SAMPLES + 1)      # the segment's first input to its last
    x = (np.arange(1 << k)[:, None] + tau[None, :]) / 2.0 ** k
    fx = f(x)
    P = sum(raw[j][:, None].astype(np.float64) * tau ** j for j in range(degree + 1))
    approx = 1.01 * float(np.max(np.abs(P / unit - fx))) * 2.0 ** out_frac
    slope = 1.01 * float(np.max(np.abs(np.diff(fx, axis=1)) / np.diff(x, axis=1)))
    floors = max((degree + 1) // 2, degree - (degree + 1) // 2) * 2.0 ** -guard      # the least offset's
    budget = limit - 0.5 - approx - floors
    if budget <= 0:
        return None
    t_bits = next((t for t in range(1, r + 1) if slope * (2.0 ** -(k + t) - 2.0 ** -in_bits) * 2.0 ** out_frac < budget), r)
    widths = [_width(min(col), max(col)) for col in raw]
    if max(widths[1:]) + 2 + t_bits > 62:                   # the model's products stay in int64
        return None
    X = np.random.default_rng(0).integers(0, 1 << in_bits, 1 << 16)
    err = 0.5 + approx + slope * (2.0 ** -(k + t_bits) - 2.0 ** -in_bits) * 2.0 ** out_frac
    def measure(offset):
        coeffs = _offset(raw, offset)
        p = FixPlan(function, in_bits, out_frac, "poly", k, degree, guard, t_bits, coeffs, 0.0, 0.0, midpoint, scale)
        mean = float(np.mean(p.evaluate(X) / 2.0 ** out_frac - f(X / 2.0 ** in_bits))) * 2.0 ** out_frac
        return err + max(abs(offset), abs(degree - offset)) * 2.0 ** -guard, mean, coeffs
    tried = [(abs(mean), bound, mean, coeffs) for bound, mean, coeffs in _offsets(degree, guard, measure) if bound < limit]
    if not tried:
        return None
    _, err, mean, coeffs = min(tried)
    return FixPlan(function, in_bits, out_frac, "poly", k, degree, guard, t_bits, coeffs, err, mean, midpoint, scale,
                   limit, start=start)


# area proxy (µm², sky130 hd): least squares over 16 plans of exp2, 1/(1+x) and the
# log-sigmoid's ratio, 10-13 bits, degree 1 and 2, k 3-7, each synthesized alone (ABC for
# 1 ns): a table bit costs 0.76, a bit product of a multiplier 36 (a smooth table is mostly
# optimized away; a multiplier is not)
TABLE_BIT_COST, PRODUCT_BIT_COST = 0.76, 36.0


def _cost(p):
    """Area proxy: table bits plus multiplier bit products, weighed as measured above."""
    widths = [_width(min(c), max(c)) for c in p.coefficients]
    return TABLE_BIT_COST * p.table_bits + PRODUCT_BIT_COST * sum(w * p.t_bits for w in widths[1:])


def plan(function, in_bits, out_frac, midpoint=False, scale=1, limit=1.0, start=0, lean=None):
    """The cheapest faithful unit for ``function`` (a key of :data:`FIX_FUNCTIONS`) on
    ``in_bits`` input bits with ``out_frac`` output fraction bits; ``midpoint``: of the
    function at the middle of each input step; ``scale`` (a power of two): on [start,
    start + scale) (see :func:`_target`); ``limit``: the error allowed, in ulps of ``2**-out_frac`` (at most
    1: faithful); ``lean``: the mean error wanted (ulps; more guard bits until it is reached,
    and such a plan before any that leans more), or None: the fewest guard bits."""
    if function not in FIX_FUNCTIONS:
        raise ValueError(f"function {function!r} unknown (allowed: {', '.join(FIX_FUNCTIONS)})")
    check_int("in_bits", in_bits, 1, MAX_IN_BITS)
    check_int("out_frac", out_frac, 1, 32)
    check_int("scale", scale, 1, 1 << 16)
    if scale & (scale - 1):
        raise ValueError(f"scale={scale} is not a power of two")
    if not 0.5 < limit <= 1.0:
        raise ValueError(f"limit={limit} is out of range (allowed: above 0.5, a table's rounding, up to 1)")
    return _plan(function, in_bits, out_frac, bool(midpoint), scale, float(limit), start, lean)


def _plan(function, in_bits, out_frac, midpoint, scale=1, limit=1.0, start=0, lean=None):
    f = _target(function, in_bits, midpoint, scale, start)
    if in_bits <= TABLE_BITS:
        x = np.arange(1 << in_bits) / 2.0 ** in_bits
        Y = np.round(f(x) * 2.0 ** out_frac).astype(np.int64)
        err, mean = _errors(f, in_bits, out_frac, Y)
        return FixPlan(function, in_bits, out_frac, "table", in_bits, 0, 0, 0, (tuple(int(v) for v in Y),), err, mean,
                       midpoint, scale, limit, start=start)
    def design(k, degree, guard):
        return (_poly if in_bits <= EXHAUSTIVE_BITS else _bounded)(function, in_bits, out_frac, k, degree, guard,
                                                                   midpoint, scale, limit, start)
    found = []
    for degree in (1, 2):
        for k in range(1, in_bits - 1):
            if (1 << k) * (degree + 1) * (out_frac + 8) > (1 << 16):    # tables beyond 64 kbit: not worth it
                break
            leaning = []
            for guard in range(1, 9):
                p = design(k, degree, guard)
                if p is not None and (lean is None or abs(p.mean_err_ulp) <= lean):
                    # one more guard bit may let t keep fewer bits: the cheaper of the two
                    q = design(k, degree, guard + 1)
                    ok = q is not None and (lean is None or abs(q.mean_err_ulp) <= lean)
                    found.append(min([p, q] if ok else [p], key=_cost))
                    break
                leaning += [p] if p is not None else []
            else:                       # no guard makes it both faithful and unbiased: the least leaning
                found += [min(leaning, key=lambda q: abs(q.mean_err_ulp))] if leaning else []
    if not found:
        raise ValueError(f"{function} on {in_bits} bits to 2^-{out_frac}: no table of at most 64 kbit is faithful")
    if lean is not None:                                                        # unbiased ones first
        found = [p for p in found if abs(p.mean_err_ulp) <= lean] or found
    best = min(found, key=_cost)
    linear = [p for p in found if p.degree == 1]
    # degree 2 puts two multipliers in series: worth its delay only for more than a quarter of the cost
    if linear and _cost(min(linear, key=_cost)) <= DEGREE2_GAIN * _cost(best):
        return min(linear, key=_cost)
    return best


@dataclass(frozen=True)
class FixOctaves:
    """f(a), a = X / 2**frac on [0, 2**int_bits), as plans by octave: ``plans[0]`` on [0,
    2**low) with every bit of a, then one per octave [2**j, 2**(j+1)) on a - 2**j with
    ``fracs[j - low]`` fraction bits, as few as keep ``|f'| * step / 2`` (what the coarser
    step costs, each plan being of f at its step's middle) within ``trunc_ulp`` ulps: where
    f flattens (a decaying correction) the octaves need few bits. The leading bit of a
    picks the plan. a is rounded to nearest (its error centred): the first plan is of f at
    a itself, each octave's of f at the middle of the fine steps its coarse step holds. The
    caller counts ``trunc_ulp`` (the rounding's and the coarser steps') beside the plans'
    ``max_err_ulp``."""
    function: str
    int_bits: int
    frac: int
    out_frac: int
    low: int
    plans: tuple
    fracs: tuple
    trunc_ulp: float

    @property
    def in_bits(self):
        return self.int_bits + self.frac

    @property
    def max_err_ulp(self):
        return max(p.max_err_ulp for p in self.plans)

    @property
    def out_range(self):
        return min(p.out_range[0] for p in self.plans), max(p.out_range[1] for p in self.plans)

    def pieces(self):
        """(j, fraction bits, plan) of each octave above the first plan."""
        return [(self.low + i, af, p) for i, (af, p) in enumerate(zip(self.fracs, self.plans[1:], strict=True))]

    def evaluate(self, X):
        X = np.asarray(X, dtype=np.int64)
        Y = self.plans[0].evaluate(np.where(X < 1 << (self.low + self.frac), X, 0))
        for j, af, p in self.pieces():
            inside = (X >> (j + self.frac)) == 1
            Y = np.where(inside, p.evaluate(np.where(inside, (X - (1 << (j + self.frac))) >> (self.frac - af), 0)), Y)
        return Y


def octaves(function, int_bits, frac, out_frac, trunc):
    """The cheapest :class:`FixOctaves` of ``function`` on [0, 2**int_bits) with ``frac``
    fraction bits (a rounded to nearest), faithful plans and a coarser step costing at most
    ``trunc`` ulps."""
    check_int("int_bits", int_bits, 1, 16)
    x = np.linspace(0.0, 2.0 ** int_bits, (1 << 12) * int_bits + 1)
    slope = np.abs(np.gradient(FIX_FUNCTIONS[function](x), x)) * 2.0 ** out_frac      # ulps per unit of a
    best = None
    for low in range(int_bits, -1, -1):
        if low + frac > MAX_IN_BITS:
            continue
        plans, fracs = [plan(function, low + frac, out_frac, scale=1 << low)] if low + frac else [], []
        for j in range(low, int_bits):
            steep = 1.01 * float(slope[(x >= 2.0 ** j) & (x <= 2.0 ** (j + 1))].max())
            af = next(b for b in range(frac + 1) if steep * 2.0 ** -b / 2 <= trunc or b == frac)
            af = max(af, 1 - j)                                          # at least one input bit
            # the middle of a coarse step's fine points: half a fine step below its own middle
            plans.append(plan(function, j + af, out_frac, True, scale=1 << j, start=(1 << j) - 2.0 ** -(frac + 1)))
            fracs.append(af)
        if not low + frac:
            continue
        trunc_ulp = max([float(slope[x <= 2.0 ** low].max()) * 2.0 ** -frac / 2] +
                        [1.01 * float(slope[(x >= 2.0 ** j) & (x <= 2.0 ** (j + 1))].max()) * 2.0 ** -af / 2
                         for j, af in zip(range(low, int_bits), fracs, strict=True)])
        o = FixOctaves(function, int_bits, frac, out_frac, low, tuple(plans), tuple(fracs), trunc_ulp)
        if best is None or sum(map(_cost, o.plans)) < sum(map(_cost, best.plans)):
            best = o
    return best


def _ports(p):
    """x (``in_bits``) in, y out, wide enough for every output of ``p``."""
    lo, hi = p.out_range
    return {"x": In(unsigned(p.in_bits)), "y": Out(Shape.cast(range(lo, hi + 1)))}


class FixFunctionUnit(wiring.Component):
    """The circuit of a :class:`FixPlan`: combinational, ``x`` (``in_bits``) to ``y``."""

    def __init__(self, p):
        if not isinstance(p, FixPlan):
            raise TypeError(f"plan {p!r}: a FixPlan (from fixfunc.plan)")
        self.plan = p
        super().__init__(_ports(p))

    def elaborate(self, platform):
        m = Module()
        p = self.plan
        if p.method == "table":
            m.d.comb += self.y.eq(Array(Const(v, self.y.shape()) for v in p.coefficients[0])[self.x])
            return m
        r = p.in_bits - p.k
        i = self.x[r:]
        t = Signal(p.t_bits)
        m.d.comb += t.eq(self.x[r - p.t_bits:r])
        tables = [Array(Const(v, signed(_width(min(c), max(c)) + 1)) for v in c) for c in p.coefficients]
        acc = tables[-1][i]
        for table in reversed(tables[:-1]):
            acc = table[i] + ((acc * t) >> p.t_bits)
        m.d.comb += self.y.eq((acc + (1 << (p.guard - 1))) >> p.guard)
        return m


class FixOctavesUnit(wiring.Component):
    """The circuit of a :class:`FixOctaves`: each octave's plan beside the others, the leading
    bit of x picking one."""

    def __init__(self, o):
        if not isinstance(o, FixOctaves):
            raise TypeError(f"plans {o!r}: a FixOctaves (from fixfunc.octaves)")
        self.octaves = o
        super().__init__(_ports(o))

    def elaborate(self, platform):
        m, o = Module(), self.octaves
        base = m.submodules.base = FixFunctionUnit(o.plans[0])
        m.d.comb += base.x.eq(self.x)
        y = base.y
        for j, af, p in o.pieces():
            unit = m.submodules[f"octave{j}"] = FixFunctionUnit(p)
            m.d.comb += unit.x.eq(self.x[o.frac - af:o.frac + j])      # a - 2**j, af fraction bits
            y = Mux(self.x[o.frac + j], unit.y, y)                     # higher octaves are tested last: they win
        m.d.comb += self.y.eq(y)
        return m
