"""ExpMul lanes (Alexandridis et al., arXiv 2505.14314) on real data: what fusing e^x·v into
the lanes would cost in accuracy, before anyone builds it.

ExpMul computes e^x·v by adding x·log2(e) to v's exponent instead of an exponential and a
multiplier. Two ways to treat the fraction f of x·log2(e):

- ``"table<t>"``: 2^f from a table of 2^t entries (f rounded to t bits, each entry rounded
  to the format), then one rounding of v·2^f: the lane keeps its significand product, so
  area is saved only in the exponential;
- ``"logadd"``: x·log2(e) in fixed point (the format's fraction bits) added to v's bit
  pattern read as a logarithm (Mitchell's 2^f ~ 1 + f): no multiplier at all, up to 6%
  off per product.

Each engine here is the golden model's (:mod:`~flashd.verif.attention_model`) with those
products swapped in: FA2's v·e^(s-m) and o·e^(m_old-m) (and its l) and FLASH-D's
(v - o)·e^lw (its default fixed-point loop). ``lanes="exact"`` is the golden model itself
(a test holds it bit-exact), so the differences are the lanes' alone.

``python -m flashd.verif.expmul_study --heads 24`` prints the table in docs/engines.md.
"""

import argparse
import math
import re
import sys
from functools import partial

import numpy as np

from . import fixmodel, model
from .accuracy import SHARED_DATA, default_data, evaluate, heads
from .attention_model import ModelResult, check_qkv, cvt, fa2, flashd
from .designs import engine_params

__all__ = ["LANES", "log2_scale", "fa2_lanes", "flashd_lanes", "study", "table"]

LANES = ("exact", "table<t>", "logadd")
LOG2E = math.log2(math.e)


def _mode(lanes):
    m = re.fullmatch(r"table(\d+)", lanes)
    if lanes not in ("exact", "logadd") and not (m and 1 <= int(m.group(1)) <= 16):
        raise ValueError(f"lanes={lanes!r} is not allowed (allowed: exact, table1..table16, logadd)")
    return ("table", int(m.group(1))) if m else (lanes, None)


def log2_scale(fmt, x, L, lanes):
    """``x`` (bits of ``fmt``) times 2^L (float64 L <= 0, broadcast) by ``lanes``: ``"table<t>"``
    (2^frac(L) with frac rounded to t bits, each table entry rounded to ``fmt``, then the product
    rounded once) or ``"logadd"`` (L with the format's fraction bits added to x's magnitude bits;
    below the smallest normal, 0)."""
    kind, t = _mode(lanes)
    if kind == "table":
        q = np.round(np.asarray(L) * (1 << t)) / (1 << t)
        k = np.floor(q)
        entry = model.from_float(fmt, np.exp2(q - k))
        scale = model.from_float(fmt, np.exp2(k) * model.to_float(fmt, entry))    # exact: a power of 2 times the entry
        return model.mul(fmt, x, np.broadcast_to(scale, np.broadcast_shapes(np.shape(x), np.shape(scale))))
    xb = np.asarray(x).astype(np.int64)
    sign, mag = xb & (1 << (fmt.width - 1)), xb & ((1 << (fmt.width - 1)) - 1)
    r = mag + np.round(np.asarray(L) * (1 << fmt.man_bits)).astype(np.int64)
    r = np.where((mag == 0) | (r < (1 << fmt.man_bits)), 0, r)                  # flushed below the smallest normal
    return (sign | r).astype(np.uint64)


def fa2_lanes(p, q, k, v, lanes="exact"):
    """FA2 (:func:`~flashd.verif.attention_model.fa2`) with e^(s-m)·v, e^(m_old-m)·o and the
    same two products of l by ``lanes`` (:func:`log2_scale`); ``"exact"``: the golden model."""
    if lanes == "exact":
        return fa2(p, q, k, v)
    f, af, sf = p.fmt, p.acc_fmt, p.scalar_fmt
    q, k, v = check_qkv(q, k, v, p.d)
    scores = model.dot(f, sf, q[:, None, :], k, p.guard_bits)
    one = np.full(q.shape[0], sf.bias << sf.man_bits, dtype=np.uint64)
    m = l = o = None
    for i in range(k.shape[1]):
        s = scores[:, i]
        m_new = s if i == 0 else model.compare(sf, m, s)["max"]
        le = model.to_float(sf, model.add(sf, s, m_new, 1)) * LOG2E
        e, ve = log2_scale(sf, one, le, lanes), log2_scale(af, cvt(f, af, v[:, i]), le[:, None], lanes)
        if i == 0:
            l, o = e, ve
        else:
            lc = model.to_float(sf, model.add(sf, m, m_new, 1)) * LOG2E
            l = model.add(sf, log2_scale(sf, l, lc, lanes), e, 0)
            o = model.add(af, log2_scale(af, o, lc[:, None], lanes), ve, 0)
        m = m_new
    r = cvt(sf, af, fixmodel.reciprocal(sf, l) if p.method == "fix" else model.reciprocal(sf, l, p.recip_segments))
    return ModelResult(cvt(af, f, model.mul(af, o, r[:, None])), updates=q.shape[0] * (k.shape[1] - 1))


def flashd_lanes(p, q, k, v, lanes="exact"):
    """FLASH-D with its fixed-point loop (``p.loop_frac``) and (v - o)·e^lw by ``lanes``
    (:func:`log2_scale`), then one addition; ``"exact"``: the golden model."""
    if lanes == "exact":
        return flashd(p, q, k, v)
    if p.loop_frac is None or p.update != "lerp":
        raise ValueError("flashd_lanes takes FLASH-D's fixed-point loop and lerp update (its defaults)")
    f, af, sf = p.fmt, p.acc_fmt, p.scalar_fmt
    q, k, v = check_qkv(q, k, v, p.d)
    scores = model.dot(f, sf, q[:, None, :], k, p.guard_bits)
    F, I = p.loop_frac, p.loop_int
    S = fixmodel.score_to_fixed(sf, F, I, scores)
    lo, hi = p.loop_thresholds()
    R, N = scores.shape
    res = ModelResult(None, updates=R * (N - 1))
    o, lw = cvt(f, af, v[:, 0]), np.zeros(R, dtype=np.int64)
    for i in range(1, N):
        lw, a = fixmodel.loop_step(F, I, S[:, i] - S[:, i - 1], lw)
        v_acc = cvt(f, af, v[:, i])
        step = log2_scale(af, model.add(af, v_acc, o, 1), (lw / (1 << F) * LOG2E)[:, None], lanes)
        skip = np.zeros(R, dtype=bool) if lo is None else a < lo         # skip and copy as the engine's lanes
        copy = np.zeros(R, dtype=bool) if hi is None else a > hi
        body = model.add(af, o, step, 0)
        res.skipped += int((skip & ~copy).sum())
        res.copied += int(copy.sum())
        o = np.where(copy[:, None], v_acc, np.where(skip[:, None], o, body)).astype(np.uint64)
    res.out = cvt(af, f, o)
    return res


def study(problems, fmt="bf16", lanes=("exact", "table4", "table5", "table8", "logadd"), progress=None):
    """Rows ``{"label", "lanes", "rms_rel", "max_rel"}``: FA2 and FLASH-D (each at its
    defaults) with each lane product, on ``problems`` (:func:`~flashd.verif.accuracy.heads`)."""
    d = problems[0][1].shape[1]
    rows = []
    for title, design, run in (("FA2", "fa2", fa2_lanes), ("FLASH-D", "flashd", flashd_lanes)):
        p = engine_params(design, d=d, fmt=fmt)
        for mode in lanes:
            e = evaluate(p, problems, partial(run, lanes=mode))
            rows.append({"label": title, "lanes": mode, "rms_rel": e["rms_rel"], "max_rel": e["max_rel"]})
            if progress:
                progress(f"{title} {mode}: RMS rel {e['rms_rel']:.4g}")
    return rows


def table(rows):
    """Markdown: each engine and lane product's error, against the same engine exact and
    against FA2 exact."""
    exact = {r["label"]: r["rms_rel"] for r in rows if r["lanes"] == "exact"}
    lines = ["| engine | lane product | RMS rel | max rel | vs the same engine, exact | vs FA2, exact |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['lanes']} | {r['rms_rel']:.4g} | {r['max_rel']:.3g} | "
                     f"{r['rms_rel'] / exact[r['label']]:.2f}x | {r['rms_rel'] / exact['FA2']:.2f}x |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m flashd.verif.expmul_study", description=__doc__.split("\n\n")[0])
    ap.add_argument("--heads", type=int, default=24, help="fixed spread-out heads of the data (default 24)")
    ap.add_argument("--fmt", default="bf16", help="input and lane format (default bf16)")
    args = ap.parse_args(argv)
    path = default_data()
    if path != SHARED_DATA:
        print(f"note: {SHARED_DATA} not found; the packaged sample instead", file=sys.stderr)
    print(table(study(heads(path, limit=args.heads), args.fmt, progress=partial(print, file=sys.stderr))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
