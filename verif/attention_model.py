"""Bit-exact models of the two attention engines, built from the operator models, plus
float64 softmax attention and the error statistics that compare them.

The models take the engine's parameter object (:mod:`flashd.hdl.params`, never the
generator) and bit patterns: ``q`` of shape (R, d), ``k`` and ``v`` of shape (R, N, d)
(one row of keys per query row, as the engine is streamed), and return (R, d) output bit
patterns. Each step mirrors the engine's operator sequence (see
:mod:`flashd.hdl.attention`), evaluated for all R rows at once, one key at a time.
"""

from dataclasses import dataclass, field

import numpy as np

from flashd.hdl.params import published_weights
from flashd.hdl.pwl import round_to_format

from . import fixmodel, model

__all__ = ["fa2", "flashd", "check_qkv", "cvt", "lane_update", "softmax_attention", "error_stats", "ModelResult"]


@dataclass
class ModelResult:
    out: np.ndarray                      # (R, d) bit patterns in fmt
    skipped: int = 0                     # lane updates skipped (FLASH-D)
    copied: int = 0                      # lane updates replaced by o = v (FLASH-D)
    updates: int = 0                     # key steps after each row's first
    extra: dict = field(default_factory=dict)


def _fmts(p):
    return p.fmt, p.acc_fmt, p.scalar_fmt


def _unit(p, op, x):
    """The engine's nonlinear unit ``op`` (of its method) on scalar-format bits ``x``."""
    if p.method == "fix":
        return getattr(fixmodel, op)(p.scalar_fmt, x)
    return getattr(model, op)(p.scalar_fmt, x, p.segments_of(op))


def cvt(fi, fo, x):
    """``x`` from format ``fi`` to ``fo``: unchanged when they are the same (no converter)."""
    return x if fi == fo else model.convert(fi, fo, x)


def check_qkv(q, k, v, d):
    """``q``, ``k``, ``v`` as uint64 bit patterns, their shapes checked against ``d``."""
    for name, a in (("q", q), ("k", k), ("v", v)):
        dtype = np.asarray(a).dtype
        if not np.issubdtype(dtype, np.integer):
            raise TypeError(f"{name}: dtype {dtype}: the models take bit patterns (unsigned integers); "
                            "convert floats with flashd.verif.model.from_float(fmt, x)")
    q, k, v = (np.asarray(a, dtype=np.uint64) for a in (q, k, v))
    if q.ndim != 2 or k.ndim != 3 or k.shape != v.shape or k.shape[0] != q.shape[0] or k.shape[2] != q.shape[1]:
        raise ValueError(f"shapes q{q.shape}, k{k.shape}, v{v.shape}: need q (R, d), k and v (R, N, d)")
    if q.shape[1] != d:
        raise ValueError(f"q has d={q.shape[1]} but the engine has d={d}")
    if k.shape[1] < 1:
        raise ValueError("N=0: a row needs at least one (k, v) pair")
    return q, k, v


def fa2(p, q, k, v):
    """FlashAttention-2 engine (:class:`flashd.hdl.attention.FA2Engine`) on bit patterns."""
    f, af, sf = _fmts(p)
    q, k, v = check_qkv(q, k, v, p.d)
    scores = model.dot(f, sf, q[:, None, :], k, p.guard_bits)         # (R, N)
    m = l = o = None                      # running max, sum and output, set by the first key
    for i in range(k.shape[1]):
        s = scores[:, i]
        m_new = s if i == 0 else model.compare(sf, m, s)["max"]
        e = _unit(p, "exp", model.add(sf, s, m_new, 1))
        ve = model.mul(af, cvt(f, af, v[:, i]), cvt(sf, af, e)[:, None])
        if i == 0:
            l, o = e, ve
        else:
            c = _unit(p, "exp", model.add(sf, m, m_new, 1))
            l = model.fma(sf, sf, l, c, e)
            o = model.fma(af, af, o, cvt(sf, af, c)[:, None], ve)
        m = m_new
    r = cvt(sf, af, _unit(p, "reciprocal", l))
    return ModelResult(cvt(af, f, model.mul(af, o, r[:, None])), updates=q.shape[0] * (k.shape[1] - 1))


def _threshold(sf, value, n):
    return None if value is None else np.full(n, round_to_format(sf, float(value)) if value else 0, dtype=np.uint64)


def flashd(p, q, k, v):
    """FLASH-D engine (:class:`flashd.hdl.attention.FlashDEngine`) on bit patterns."""
    f, af, sf = _fmts(p)
    q, k, v = check_qkv(q, k, v, p.d)
    R, N = k.shape[:2]
    scores = model.dot(f, sf, q[:, None, :], k, p.guard_bits)
    if p.loop_frac is not None:
        return _flashd_fixed(p, scores, v)
    lo, hi = _threshold(sf, p.skip_below, R), _threshold(sf, p.copy_above, R)
    none = np.zeros(R, dtype=bool)
    one_s = np.full(R, sf.bias << sf.man_bits, dtype=np.uint64)
    published = p.saturation == "published"
    res = ModelResult(None, updates=R * (N - 1))
    for i in range(N):
        s = scores[:, i]
        v_acc = cvt(f, af, v[:, i])
        if i == 0:
            o, lw, w = v_acc, np.zeros(R, dtype=np.uint64), one_s
            s_prev = s
            continue
        dx = model.add(sf, s, s_prev, 1)
        s_prev = s
        if published:
            skip = none if lo is None else _le(sf, dx, lo)
            copy = none if hi is None else _le(sf, hi, dx)
            a = model.add(sf, dx, _unit(p, "ln", w))
            w = _unit(p, "sigmoid", a)
            w_lo, w_hi = published_weights(sf)
            w = np.where(skip, w_lo, np.where(copy, w_hi, w)).astype(np.uint64)
            w_lanes = w
        else:
            a = model.add(sf, dx, lw)
            lw = _unit(p, "logsigmoid", a)
            skip = none if lo is None else model.compare(sf, a, lo)["less"].astype(bool)
            copy = none if hi is None else model.compare(sf, a, hi)["greater"].astype(bool)
            w_lanes = _unit(p, "exp", lw)
        o = lane_update(p, o, v_acc, cvt(sf, af, w_lanes), skip, copy, res)
    res.out = cvt(af, f, o)
    return res


def _flashd_fixed(p, scores, v):
    """FLASH-D with its loop in fixed point (``loop_frac``), from the scores on."""
    F, I, af = p.loop_frac, p.loop_int, p.acc_fmt
    R, N = scores.shape
    S = fixmodel.score_to_fixed(p.scalar_fmt, F, I, scores)
    lo, hi = p.loop_thresholds()
    none = np.zeros(R, dtype=bool)
    res = ModelResult(None, updates=R * (N - 1))
    nan = np.logical_or.accumulate(np.isnan(model.to_float(p.scalar_fmt, scores)), axis=1)   # NaN from a NaN score on
    o, lw = cvt(p.fmt, af, v[:, 0]), np.zeros(R, dtype=np.int64)
    for i in range(1, N):
        lw, a = fixmodel.loop_step(F, I, S[:, i] - S[:, i - 1], lw)
        skip = none if lo is None else (a < lo) & ~nan[:, i]          # a NaN weight neither skips nor copies
        copy = none if hi is None else (a > hi) & ~nan[:, i]
        w = np.where(nan[:, i], np.uint64(af.qnan), fixmodel.loop_weight(af, F, I, lw)).astype(np.uint64)
        o = lane_update(p, o, cvt(p.fmt, af, v[:, i]), w, skip, copy, res)
    res.out = cvt(af, p.fmt, o)
    return res


def lane_update(p, o, v_acc, w_acc, skip, copy, res):
    """FLASH-D's d lanes for one key: ``o + (v - o)*w`` (lerp) or ``(1 - w)*o + v*w`` (blend)
    in the accumulator format, ``o`` kept where ``skip``, ``v`` taken where ``copy``
    (counted in ``res``); ``w_acc`` (R,) in the accumulator format."""
    af = p.acc_fmt
    w_acc = w_acc[:, None]
    if p.update == "lerp":
        body = model.fma(af, af, model.add(af, v_acc, o, 1), w_acc, o)
    else:
        one_a = np.full(o.shape[0], af.bias << af.man_bits, dtype=np.uint64)
        om = model.add(af, one_a, w_acc[:, 0], 1)[:, None]
        body = model.fma(af, af, om, o, model.mul(af, v_acc, w_acc))
    res.skipped += int((skip & ~copy).sum())
    res.copied += int(copy.sum())
    return np.where(copy[:, None], v_acc, np.where(skip[:, None], o, body)).astype(np.uint64)


def _le(fmt, a, b):
    c = model.compare(fmt, a, b)
    return (c["less"] | c["equal"]).astype(bool)


def softmax_attention(q, k, v):
    """float64 reference: ``softmax(q . k) @ v`` per row; q (R, d), k and v (R, N, d)."""
    s = np.einsum("rd,rnd->rn", q, k)
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s)
    return np.einsum("rn,rnd->rd", p / p.sum(axis=1, keepdims=True), v)


def error_stats(y, ref):
    """Errors of ``y`` against ``ref`` (both (R, d) float64).

    ``max_abs``: largest |y - ref|. ``max_rel``: largest |y - ref| / max_j |ref[r, j]| (each
    element against its row's largest magnitude, so near-zero elements do not divide by ~0).
    ``rms_rel``: sqrt(mean((y - ref)^2) / mean(ref^2)). Non-finite outputs count as errors.
    """
    err = np.abs(y - ref)
    scale = np.max(np.abs(ref), axis=1, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    return {"max_abs": float(np.max(err)), "max_rel": float(np.max(err / scale)),
            "rms_rel": float(np.sqrt(np.mean(err ** 2) / max(np.mean(ref ** 2), 1e-300))),
            "nonfinite": int((~np.isfinite(y)).sum())}
