"""Engine parameters apart from hardware: validated, defaults resolved, named.

A parameter object is a frozen dataclass. Building one validates every argument (a
``ValueError`` or ``TypeError`` naming the parameter, the value and what is allowed) and
resolves every default; reading it never builds hardware. The engines
(:mod:`flashd.hdl.attention`, which also states their latency from their units) take one, the
NumPy models (:mod:`flashd.verif.attention_model`) take the same one, and ``generate`` names
its module after it. Each field's ``metadata["help"]`` is its one-line description (the
command line's help).
"""

import dataclasses
import math
from dataclasses import dataclass, field
from typing import ClassVar

from .fixloop import MAX_LOOP_FRAC, MAX_LOOP_INT
from .fixunits import FIX_UNITS, MAX_MAN_BITS
from .format import FPFormat, as_format, check_int
from .ops import MAX_GUARD_BITS
from .plan import latency_of
from .pwl import check_segments, exponent_check, round_to_format

__all__ = ["EngineParams", "FA2Params", "FlashDParams", "METHODS", "MAX_D", "MAX_INTERLEAVE", "MAX_GUARD_BITS", "field_help", "PUBLISHED_THRESHOLDS", "PUBLISHED_WEIGHTS", "default_thresholds", "default_loop_frac", "published_weights"]

MAX_D = 1024
MAX_INTERLEAVE = 64
PUBLISHED_THRESHOLDS = (-6.0, 11.0)      # the published rule tests dx <= -6 and dx >= 11
PUBLISHED_WEIGHTS = (1e-5, 0.99999)      # ... and forces w to these
DEFAULT_SEGMENTS = 8
DEFAULT_LOOP_INT = 7                     # FLASH-D's fixed-point loop saturates at +-128
DEFAULT_MIN_ROW = 64                     # the streamed output keeps up with rows of 64 keys or more
SEGMENT_OPTIONS = ("exp_segments", "recip_segments", "lsig_segments", "ln_segments", "sigmoid_segments")
# the parameter holding each nonlinear unit's table size (method pwl)
SEGMENT_FIELD = {"exp": "exp_segments", "reciprocal": "recip_segments", "logsigmoid": "lsig_segments",
                 "ln": "ln_segments", "sigmoid": "sigmoid_segments"}
# the nonlinear units: "fix" the faithful fixed-point ones (hdl/fixunits.py), "pwl" the published
# piecewise-linear tables on an FMA (hdl/nonlinear.py)
METHODS = ("fix", "pwl")


def default_thresholds(acc_fmt):
    """FLASH-D's exact-mode defaults: skip when w < 2**-(p+5), copy when 1 - w < 2**-(p+5),
    p the accumulator's precision (a = ln(w/(1-w)) = -+(p+5)*ln2). A skipped update would
    move o by under 2**-(p+5)*|v - o|, so even 16 skipped keys in a row stay within half
    an ulp when |v - o| ~ |o|. Measured on real data: no change in error (README sweep)."""
    t = round((acc_fmt.precision + 5) * math.log(2), 2)
    return -t, t


def default_loop_frac(fmt):
    """FLASH-D's fixed-point loop width for output format ``fmt``: its precision + 4 fraction
    bits (bf16 12, fp16 15, fp8_e4m3 8: each at its real-data error floor, docs/engines.md),
    or None (the floating-point loop) beyond :data:`~flashd.hdl.fixloop.MAX_LOOP_FRAC`."""
    f = fmt.precision + 4
    return f if f <= MAX_LOOP_FRAC else None


def published_weights(scalar_fmt):
    """The published forced weights (1e-5, 0.99999) as ``scalar_fmt`` bits; 1e-5 below the
    smallest normal (fp8) becomes the smallest normal, so ln w stays finite."""
    lo, hi = PUBLISHED_WEIGHTS
    lo_bits = round_to_format(scalar_fmt, lo) if lo >= 2.0 ** scalar_fmt.emin else 1 << scalar_fmt.man_bits
    return lo_bits, round_to_format(scalar_fmt, hi)


def _segments(name, value, fmt, func):
    """A table size for ``func``: ``value``, or the default capped to what ``fmt`` can index."""
    if value is None:
        for s in (DEFAULT_SEGMENTS, 4, 2):
            try:
                return check_segments(s, fmt, func)
            except ValueError:
                continue
    try:
        return check_segments(value, fmt, func)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


def _scalar_check(fmt, func):
    try:
        exponent_check(fmt, func)
    except ValueError as e:
        raise ValueError(f"scalar_fmt: {e}") from None


@dataclass(frozen=True, kw_only=True)
class EngineParams:
    """Parameters both engines share.

    Parameters
    ----------
    d : int
        Head dimension, 1..``MAX_D``.
    fmt : FPFormat or str
        Format of q, k, v and of the output row.
    acc_fmt : FPFormat or str, optional
        Format of the d output lanes (running o and its update); defaults to ``fmt``.
    scalar_fmt : FPFormat or str, optional
        Format of the one-lane path (scores and everything computed from them); defaults
        to ``fmt``.
    stages : int
        Register ranks in each feed-forward operator, >= 0.
    interleave : int
        Rows processed round-robin (P), 1..``MAX_INTERLEAVE``.
    guard_bits : int
        Dot-product window bits (see :class:`~flashd.hdl.ops.FPDot`), 0..``MAX_GUARD_BITS``.
    out_lanes : int, None or "auto"
        The output row leaves in ``d / out_lanes`` beats of ``out_lanes`` values on a
        valid/ready stream (FA2 normalizes them on ``out_lanes`` multipliers); None: the
        whole row at once with valid only, no backpressure (the paper's engines). "auto"
        (default): with the fewest buffers, the fewest lanes that take rows of ``min_row``
        pairs without stalling the input (:meth:`stream_keeps_up`).
    out_buffers : int, optional
        With the stream: finished rows held for it, 1..8 (default: the fewest, at least P,
        that take rows of ``min_row`` pairs without stalling, at most 8).
    min_row : int, optional
        With the stream: the shortest row (pairs) it must take without stalling the input;
        it chooses the defaults of ``out_lanes`` and ``out_buffers`` (default 64).
    method : str, optional
        The nonlinear units: ``"fix"`` (faithful, fixed point) or ``"pwl"`` (the published
        tables); default ``"fix"`` where ``scalar_fmt`` allows (up to fp32's 23 fraction
        bits) and no table size is given, else ``"pwl"``.
    """
    DESIGN: ClassVar[str] = ""
    COMMON: ClassVar[tuple] = ("d", "fmt", "acc_fmt", "scalar_fmt", "stages", "interleave", "guard_bits", "method",
                               "out_lanes", "out_buffers", "min_row")
    MAX_OUT_BUFFERS: ClassVar[int] = 8

    d: int = field(metadata={"help": f"head dimension (1..{MAX_D})"})
    fmt: FPFormat = field(metadata={"help": "format of q, k, v and the output row"})
    acc_fmt: FPFormat = field(default=None, metadata={"help": "format of the d output lanes (default: fmt)"})
    scalar_fmt: FPFormat = field(default=None, metadata={"help": "format of the one-lane score path (default: fmt)"})
    stages: int = field(default=0, metadata={"help": "register ranks in each feed-forward operator (default 0)"})
    interleave: int = field(default=1, metadata={"help": f"rows interleaved round-robin, P (1..{MAX_INTERLEAVE}, default 1)"})
    guard_bits: int = field(default=3, metadata={"help": f"dot-product window bits below the largest product (0..{MAX_GUARD_BITS}, default 3)"})
    method: str = field(default=None, metadata={"help": "nonlinear units: fix (faithful fixed point; default where the "
                                                        "scalar format allows: up to fp32) or pwl (the published tables)"})
    out_lanes: int = field(default="auto", metadata={"help": "output row in beats of k values on a valid/ready stream, "
                                                             "k dividing d; none: the whole row at once, valid only (the "
                                                             "paper's); auto (default): the fewest lanes that keep up "
                                                             "with rows of min_row pairs"})
    out_buffers: int = field(default=None, metadata={"help": "with the stream: finished rows held for it, 1..8 (default: "
                                                             "the fewest, at least P, that keep up with rows of min_row "
                                                             "pairs)"})
    min_row: int = field(default=None, metadata={"help": "with the stream: the shortest row (pairs) it takes without "
                                                         f"stalling the input; picks out_lanes and out_buffers (default "
                                                         f"{DEFAULT_MIN_ROW})"})

    def _set(self, name, value):
        object.__setattr__(self, name, value)        # resolving a default of a frozen dataclass

    def _fix_fits(self, ops):
        """None if every unit of ``ops`` has a fixed-point design in scalar_fmt, else why not."""
        try:
            for op in ops:
                FIX_UNITS[op].DESIGN(self.scalar_fmt)
        except ValueError as e:
            return str(e)
        return None

    def _resolve_method(self, ops, segments):
        """``method`` resolved for the units ``ops``; the table sizes ``segments`` resolved
        (pwl) or refused (fix: its units are planned from the precision)."""
        why = self._fix_fits(ops)
        if self.method is None:                 # a table size given asks for the tables
            sized = any(getattr(self, name) is not None for name in segments)
            self._set("method", "pwl" if why or sized else "fix")
        elif self.method not in METHODS:
            raise ValueError(f"method={self.method!r} is not allowed (allowed: {', '.join(METHODS)})")
        elif self.method == "fix" and why:
            raise ValueError(f"method='fix' does not fit scalar_fmt={self.scalar_fmt.name}: {why.split(': ', 1)[-1]} "
                             f"(method='pwl' takes it)")
        for name, func in segments.items():
            if self.method == "pwl":
                self._set(name, _segments(name, getattr(self, name), self.scalar_fmt, func))
            elif getattr(self, name) is not None:
                raise ValueError(f"{name}={getattr(self, name)} does not apply to method='fix' (its units are "
                                 f"planned from the format's precision; method='pwl' takes table sizes)")

    def __post_init__(self):
        self._set("d", check_int("d", self.d, 1, MAX_D))
        fmt = as_format(self.fmt, "fmt")
        self._set("fmt", fmt)
        self._set("acc_fmt", as_format(self.acc_fmt if self.acc_fmt is not None else fmt, "acc_fmt"))
        self._set("scalar_fmt", as_format(self.scalar_fmt if self.scalar_fmt is not None else fmt, "scalar_fmt"))
        check_int("stages", self.stages, 0)
        check_int("interleave", self.interleave, 1, MAX_INTERLEAVE)
        check_int("guard_bits", self.guard_bits, 0, MAX_GUARD_BITS)
        if self.out_lanes is not None and not (isinstance(self.out_lanes, str) and self.out_lanes == "auto"):
            check_int("out_lanes", self.out_lanes, 1, self.d)
            if self.d % self.out_lanes:
                raise ValueError(f"out_lanes={self.out_lanes} does not divide d={self.d} (allowed: "
                                 f"{', '.join(map(str, self._divisors()))}, none or auto)")
        if self.out_lanes is None:
            for name in ("out_buffers", "min_row"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}={getattr(self, name)} applies only with out_lanes (the streamed output)")
        else:
            if self.out_buffers is not None:
                check_int("out_buffers", self.out_buffers, 1, self.MAX_OUT_BUFFERS)
            self._set("min_row", check_int("min_row", DEFAULT_MIN_ROW if self.min_row is None else self.min_row, 1))
        self._resolve_design()
        self._resolve_stream()

    def _resolve_design(self):
        """The design's own parameters resolved (after the common ones, before the stream's)."""

    def _divisors(self):
        return [k for k in range(1, self.d + 1) if self.d % k == 0]

    def stream_keeps_up(self, lanes, buffers, latency):
        """Whether rows of ``min_row`` pairs pass a stream of ``lanes`` lanes and ``buffers``
        row buffers without stalling the input, ``latency`` the engine's (last pair to first
        beat; an upper bound on when its buffer starts to drain). Each group of P rows
        takes a buffer per row at its last pairs and gives it back when the row's d/k-th
        beat issues, one row after another: the P rows of a group are out ``latency + P*d/k``
        cycles after its end, and B buffers hold B/P groups, which come every P*N cycles
        (tests/test_engines_rtl.py checks a stall-free default and a stalling smaller one)."""
        P, N, beats = self.interleave, self.min_row, self.d // lanes
        return beats <= N and latency + P * beats <= buffers * N

    def _resolve_stream(self):
        """``out_lanes="auto"`` and ``out_buffers`` resolved: the fewest buffers (at least P,
        one per row of a group), then the fewest lanes, that keep up with rows of
        ``min_row`` pairs; if none does, the most lanes and buffers."""
        if self.out_lanes is None:
            return
        P, top = self.interleave, self.MAX_OUT_BUFFERS
        auto, given = isinstance(self.out_lanes, str), self.out_buffers
        lanes = self._divisors() if auto else [self.out_lanes]
        buffers = [given] if given is not None else list(range(min(P, top), top + 1))
        self._set("out_lanes", lanes[-1])
        self._set("out_buffers", buffers[0])
        latency = latency_of(self)                            # the same for every k and B
        fits = [(b, k) for b in buffers for k in lanes if self.stream_keeps_up(k, b, latency)]
        # none fits (rows too short): the most lanes and, where more of them help, the most buffers
        b, k = fits[0] if fits else (buffers[-1] if self.d // lanes[-1] <= self.min_row else buffers[0], lanes[-1])
        self._set("out_lanes", k)
        self._set("out_buffers", b)

    @classmethod
    def options(cls):
        """The design's own parameters (beyond :attr:`COMMON`), in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in cls.COMMON)

    @property
    def design(self):
        return self.DESIGN

    @property
    def throughput(self):
        """Accepted (k, v) pairs per cycle (every engine here takes one; a variant that takes
        fewer states it here, and the benches and reports read it)."""
        return 1

    def as_dict(self):
        """Resolved parameters (formats by name), for reports, sidecars and JSON."""
        out = {"design": self.DESIGN}
        for name in self.COMMON + self.options():
            if name in self._unused():
                continue
            v = getattr(self, name)
            out[name] = v.name if isinstance(v, FPFormat) else v
        return out

    def _unused(self):
        return ()

    @property
    def module_name(self):
        """``flashd_<design>_<fmt>_d<d>[_acc<F>][_sc<F>]_p<P>_s<S>[...]``: every non-default parameter."""
        parts = ["flashd", self.DESIGN, self.fmt.name, f"d{self.d}"]
        if self.acc_fmt != self.fmt:
            parts.append(f"acc{self.acc_fmt.name}")
        if self.scalar_fmt != self.fmt:
            parts.append(f"sc{self.scalar_fmt.name}")
        parts += [f"p{self.interleave}", f"s{self.stages}"]
        if self.guard_bits != 3:
            parts.append(f"g{self.guard_bits}")
        if self.out_lanes is not None:
            parts.append(f"k{self.out_lanes}" + (f"b{self.out_buffers}" if self.out_buffers != self.interleave else ""))
        if self.method != ("pwl" if self._fix_fits(self._units()) else "fix"):
            parts.append(self.method)
        return "_".join(parts + self._name_parts())

    def _units(self):
        """The nonlinear operators the engine uses (registry names)."""
        return ()

    def segments_of(self, op):
        """The table size of the engine's unit ``op`` (None with method fix)."""
        return getattr(self, SEGMENT_FIELD[op])

    def _name_parts(self):
        return []

    def _segment_name_parts(self, defaults):
        return [f"{key.split('_')[0]}{getattr(self, key)}" for key in SEGMENT_OPTIONS
                if key in self.options() and key not in self._unused() and getattr(self, key) != getattr(defaults, key)]


@dataclass(frozen=True, kw_only=True)
class FA2Params(EngineParams):
    """FlashAttention-2 (:class:`~flashd.hdl.attention.FA2Engine`): the common parameters and
    the table sizes ``exp_segments`` and ``recip_segments`` (default 8, capped to what
    ``scalar_fmt`` can index)."""
    DESIGN: ClassVar[str] = "fa2"

    exp_segments: int = field(default=None, metadata={"help": "table pieces of the exponential (default 8)"})
    recip_segments: int = field(default=None, metadata={"help": "table pieces of the reciprocal (default 8)"})

    def _resolve_design(self):
        if self.method == "pwl" or (self.method is None and self._fix_fits(self._units())):
            _scalar_check(self.scalar_fmt, "exp")
        self._resolve_method(self._units(), {SEGMENT_FIELD[op]: op for op in self._units()})

    def _units(self):
        return ("exp", "reciprocal")

    def _unused(self):
        return ("exp_segments", "recip_segments") if self.method == "fix" else ()

    def _name_parts(self):
        return self._segment_name_parts(FA2Params(d=self.d, fmt=self.fmt, acc_fmt=self.acc_fmt,
                                                  scalar_fmt=self.scalar_fmt, method=self.method))


@dataclass(frozen=True, kw_only=True)
class FlashDParams(EngineParams):
    """FLASH-D (:class:`~flashd.hdl.attention.FlashDEngine`).

    Parameters
    ----------
    saturation : str
        ``"exact"`` (default: the loop carries ln w, never clamped) or ``"published"``.
    update : str
        ``"lerp"`` (default: ``o + (v - o)*w``) or ``"blend"`` (``w*v + (1 - w)*o``).
    skip_below, copy_above : float, None or "default"
        Thresholds on the sigmoid argument (exact) or on dx (published); None: never.
        "default": :func:`default_thresholds` (exact) or :data:`PUBLISHED_THRESHOLDS`.
    loop_frac : int, None or "default"
        The exact mode's loop in fixed point (:mod:`~flashd.hdl.fixloop`): the state ln w
        and the scores with ``loop_frac`` fraction bits (1..20); None: the loop in
        ``scalar_fmt``'s floating point. Its units are its own (``method`` and table sizes
        do not apply); the weight comes out in ``acc_fmt``. "default":
        :func:`default_loop_frac` (``fmt``'s precision + 4: bf16 12, fp16 15, fp8_e4m3 8),
        or the floating-point loop where that is beyond 20 bits (fp32), the saturation is
        published, or ``method`` or a table size is given (they ask for the units).
    loop_int : int, optional
        With ``loop_frac``: the state and the scores saturate at ``±2**loop_int`` (1..10,
        default 7: the scores of every MiniLM head in ``../shared/data`` are within ±41).
    lsig_segments, exp_segments : int, optional
        Table sizes of the exact mode (default 8, capped to the format).
    ln_segments, sigmoid_segments : int, optional
        Table sizes of the published mode (default 8, capped to the format).
    """
    DESIGN: ClassVar[str] = "flashd"
    SATURATION: ClassVar[tuple] = ("exact", "published")
    UPDATE: ClassVar[tuple] = ("lerp", "blend")
    MODE_SEGMENTS: ClassVar[dict] = {"exact": ("lsig_segments", "exp_segments"),
                                     "published": ("ln_segments", "sigmoid_segments")}

    saturation: str = field(default="exact", metadata={
        "help": "exact (default: the loop carries ln w) or published (the paper's rule)"})
    update: str = field(default="lerp", metadata={"help": "lerp (default: o + (v - o)*w) or blend (w*v + (1 - w)*o)"})
    skip_below: float = field(default="default", metadata={
        "help": "keep o when the sigmoid argument (published: dx) is below this; a number, none or default"})
    copy_above: float = field(default="default", metadata={"help": "take o = v above this; a number, none or default"})
    loop_frac: int = field(default="default", metadata={
        "help": f"exact: the weight loop in fixed point with this many fraction bits (1..{MAX_LOOP_FRAC}), or none: "
                "in scalar_fmt's floating point (default: fmt's precision + 4, e.g. bf16 12; fp32, method or table "
                "sizes: none)"})
    loop_int: int = field(default=None, metadata={
        "help": f"with loop_frac: scores and state saturate at +-2**loop_int (1..{MAX_LOOP_INT}, default "
                f"{DEFAULT_LOOP_INT})"})
    lsig_segments: int = field(default=None, metadata={"help": "exact: log-sigmoid pieces per binade (default 8)"})
    exp_segments: int = field(default=None, metadata={"help": "exact: table pieces of the exponential (default 8)"})
    ln_segments: int = field(default=None, metadata={"help": "published: table pieces of ln (default 8)"})
    sigmoid_segments: int = field(default=None, metadata={"help": "published: table pieces of the sigmoid (default 8)"})

    def _resolve_design(self):
        if self.saturation not in self.SATURATION:
            raise ValueError(f"saturation={self.saturation!r} is not allowed (allowed: {', '.join(self.SATURATION)})")
        if self.update not in self.UPDATE:
            raise ValueError(f"update={self.update!r} is not allowed (allowed: {', '.join(self.UPDATE)})")
        lo, hi = PUBLISHED_THRESHOLDS if self.saturation == "published" else default_thresholds(self.acc_fmt)
        for name, default in (("skip_below", lo), ("copy_above", hi)):
            v = getattr(self, name)
            v = default if isinstance(v, str) and v == "default" else v
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise ValueError(f"{name}={v!r} must be a finite number, None or 'default'")
            self._set(name, v)
        if self.skip_below is not None and self.copy_above is not None and not self.skip_below < self.copy_above:
            raise ValueError(f"skip_below={self.skip_below} must be below copy_above={self.copy_above}")
        self._resolve_loop()
        if self.method == "pwl" or (self.method is None and self._fix_fits(self._units())):
            _scalar_check(self.scalar_fmt, "exp" if self.saturation == "exact" else "ln")
        other = self.MODE_SEGMENTS["published" if self.saturation == "exact" else "exact"]
        for name in other:
            if getattr(self, name) is not None:
                raise ValueError(f"{name}={getattr(self, name)} does not apply to saturation={self.saturation!r} "
                                 f"(its tables: {', '.join(self.MODE_SEGMENTS[self.saturation])})")
        self._resolve_method(self._units(), {SEGMENT_FIELD[op]: op for op in self._units()})
        if self.loop_frac is None:
            for name in ("skip_below", "copy_above"):
                self.threshold_bits(name)                # in the scalar format's normal range

    def _default_loop_frac(self):
        """What ``loop_frac="default"`` resolves to (see the class)."""
        if self.saturation != "exact" or self.method is not None or any(
                getattr(self, name) is not None for name in self.MODE_SEGMENTS["exact"]) or \
                self.acc_fmt.man_bits > MAX_MAN_BITS:
            return None
        return default_loop_frac(self.fmt)

    def _resolve_loop(self):
        """``loop_frac`` resolved and checked with ``loop_int``; with the fixed-point loop,
        ``method`` and the table sizes refused (its units are its own)."""
        self._set("_auto_loop", self._default_loop_frac())       # before method resolves (the module name's default)
        if isinstance(self.loop_frac, str) and self.loop_frac == "default":
            self._set("loop_frac", self._auto_loop)
        if self.loop_frac is None:
            if self.loop_int is not None:
                raise ValueError(f"loop_int={self.loop_int} applies only with loop_frac (the fixed-point loop)")
            return
        check_int("loop_frac", self.loop_frac, 1, MAX_LOOP_FRAC)
        self._set("loop_int", check_int("loop_int", DEFAULT_LOOP_INT if self.loop_int is None else self.loop_int,
                                        1, MAX_LOOP_INT))
        if self.saturation != "exact":
            raise ValueError(f"loop_frac={self.loop_frac} applies only to saturation='exact' (the loop of ln w), "
                             f"not {self.saturation!r}")
        if self.acc_fmt.man_bits > MAX_MAN_BITS:
            raise ValueError(f"loop_frac={self.loop_frac}: the weight e^lw is planned up to fp32's precision, not "
                             f"acc_fmt={self.acc_fmt.name} (allowed: formats with at most {MAX_MAN_BITS} fraction bits)")
        for name in ("method",) + self.MODE_SEGMENTS["exact"]:
            if getattr(self, name) is not None:
                raise ValueError(f"{name}={getattr(self, name)!r} does not apply with loop_frac (the fixed-point "
                                 f"loop has its own units)")

    def loop_thresholds(self):
        """With ``loop_frac``: (skip when A < this, copy when A > this) on the loop's integer
        A = a * 2**loop_frac, or None for a threshold that is None."""
        scale = 1 << self.loop_frac
        return (None if self.skip_below is None else math.ceil(self.skip_below * scale),
                None if self.copy_above is None else math.floor(self.copy_above * scale))

    def _units(self):
        if self.loop_frac is not None:
            return ()
        return ("logsigmoid", "exp") if self.saturation == "exact" else ("ln", "sigmoid")

    def _unused(self):
        other = self.MODE_SEGMENTS["published" if self.saturation == "exact" else "exact"]
        # a floating-point loop where the default is fixed keeps loop_frac=None (as_dict rebuilds the engine)
        loop = ("method",) if self.loop_frac is not None else ("loop_int",) if self._auto_loop else ("loop_frac", "loop_int")
        return other + loop + (self.MODE_SEGMENTS[self.saturation] if self.method == "fix" else ())

    def threshold_bits(self, name):
        """``skip_below`` or ``copy_above`` as ``scalar_fmt`` bits (None: no threshold)."""
        v, sf = getattr(self, name), self.scalar_fmt
        if v is None or v == 0:
            return None if v is None else 0
        if not 2.0 ** sf.emin <= abs(v) < 2.0 ** (sf.emax + 1):
            raise ValueError(f"{name}={v} is outside the normal range of scalar_fmt={sf.name} "
                             f"(allowed: 0 or {2.0 ** sf.emin:g} <= |value| < {2.0 ** (sf.emax + 1):g})")
        return round_to_format(sf, float(v))

    def _name_parts(self):
        defaults = FlashDParams(d=self.d, fmt=self.fmt, acc_fmt=self.acc_fmt, scalar_fmt=self.scalar_fmt,
                                saturation=self.saturation, method=self.method)
        parts = [v for v, default in ((self.saturation, "exact"), (self.update, "lerp")) if v != default]
        if self.loop_frac != self._auto_loop:
            parts.append("lfnone" if self.loop_frac is None else f"lf{self.loop_frac}")
        if self.loop_frac is not None and self.loop_int != DEFAULT_LOOP_INT:
            parts.append(f"li{self.loop_int}")
        for key, tag in (("skip_below", "skip"), ("copy_above", "copy")):
            v = getattr(self, key)
            if v != getattr(defaults, key):
                parts.append(f"{tag}{'none' if v is None else str(v).replace('-', 'm').replace('.', 'p')}")
        return parts + self._segment_name_parts(defaults)


def field_help(params_cls, name):
    """The one-line description of parameter ``name`` of ``params_cls`` (its field metadata)."""
    return next(f.metadata["help"] for f in dataclasses.fields(params_cls) if f.name == name)
