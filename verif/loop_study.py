"""FLASH-D's weight loop in fixed point: the numerical study on real data that chose the
circuit's widths (the circuit: :mod:`flashd.hdl.fixloop`, ``FlashDParams(loop_frac=...)``).

The engine's loop ``a = dx + lw``, ``lw = ln sigmoid(a)`` runs in the scalar format, and each
key's rounding of the state persists into every later weight (docs/engines.md: with a bf16
scalar path FLASH-D errs 3.1x FA2). Here the state is a fixed-point number: the scores (the
dot product's, in ``scalar_fmt``: fp32 in :func:`study`, as a dot product whose fixed-point
sum goes straight to the loop would give) rounded to ``frac`` fraction bits, ``dx`` and ``a`` exact sums, ``lw = ln sigmoid(a)``
rounded to ``frac`` bits (``rounding``: ``"nearest"``, a correctly rounded unit, or
``"floor"``, one whose errors all lean one way), all saturating at ``±2**int_bits``; the
weight ``w = e**lw`` correctly rounded to the accumulator format. The lanes and the skip and
copy thresholds are the engine's (:func:`~flashd.verif.attention_model.lane_update`).

``python -m flashd.verif.loop_study --heads 24`` prints the table in docs/engines.md.
"""

import argparse
import sys
from functools import partial

import numpy as np

from flashd.hdl.format import check_int

from . import model
from .accuracy import SHARED_DATA, configs, default_data, evaluate, heads
from .attention_model import ModelResult, check_qkv, cvt, lane_update
from .designs import engine_params

__all__ = ["flashd_fixed_loop", "study", "table"]

ROUNDINGS = ("nearest", "floor")


def flashd_fixed_loop(p, q, k, v, *, frac, int_bits=6, rounding="nearest"):
    """FLASH-D (``p``: FlashDParams, saturation "exact") with its weight loop in fixed point
    (see the module); ``res.extra["saturated"]``: the key steps where a or lw saturated."""
    check_int("frac", frac, 1, 40)
    check_int("int_bits", int_bits, 1, 16)
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding={rounding!r} is not allowed (allowed: {', '.join(ROUNDINGS)})")
    if p.saturation != "exact":
        raise ValueError(f"saturation={p.saturation!r}: the fixed-point loop is of the exact form (allowed: exact)")
    f, af, sf = p.fmt, p.acc_fmt, p.scalar_fmt
    q, k, v = check_qkv(q, k, v, p.d)
    R, N = k.shape[:2]
    scale, top = 2.0 ** frac, 2.0 ** (int_bits + frac)
    s = model.to_float(sf, model.dot(f, sf, q[:, None, :], k, p.guard_bits))
    S = np.clip(np.round(s * scale), -top, top - 1)
    res = ModelResult(None, updates=R * (N - 1), extra={"saturated": int((np.abs(s * scale) >= top).sum())})
    none = np.zeros(R, dtype=bool)
    o, LW = cvt(f, af, v[:, 0]), np.zeros(R)
    for i in range(1, N):
        A = S[:, i] - S[:, i - 1] + LW
        res.extra["saturated"] += int(((A < -top) | (A >= top)).sum())
        a = np.clip(A, -top, top - 1) / scale
        lsig = -np.logaddexp(0.0, -a) * scale
        LW = np.round(lsig) if rounding == "nearest" else np.floor(lsig)
        res.extra["saturated"] += int((LW < -top).sum())
        LW = np.maximum(LW, -top)
        w = model.from_float(af, np.exp(LW / scale))
        skip = none if p.skip_below is None else a < p.skip_below
        copy = none if p.copy_above is None else a > p.copy_above
        o = lane_update(p, o, cvt(f, af, v[:, i]), w, skip, copy, res)
    res.out = cvt(af, f, o)
    return res


def study(problems, fmt="bf16", fracs=(4, 6, 8, 10, 12, 14, 16), int_bits=6, progress=None):
    """Rows ``{"label", "rms_rel", "max_rel", "floor_rms_rel", "saturated"}``: the standard
    FA2 and FLASH-D configurations of ``fmt`` (float state) beside FLASH-D with the
    fixed-point loop at each ``frac`` (bf16 and fp32 accumulators; "floor" rounding at two
    widths), on ``problems`` (:func:`~flashd.verif.accuracy.heads`)."""
    d = problems[0][1].shape[1]
    base = dict(configs(fmt, d))
    rows = []

    def add(label, p, run=None, **kw):
        counts = {"saturated": 0}

        def counting(p, q, k, v):
            res = run(p, q, k, v, **kw)
            counts["saturated"] += res.extra["saturated"]
            return res
        e = evaluate(p, problems, counting) if run else evaluate(p, problems)
        rows.append({"label": label, "rms_rel": e["rms_rel"], "max_rel": e["max_rel"],
                     "floor_rms_rel": e["floor_rms_rel"], "saturated": counts["saturated"] if run else None})
        if progress:
            progress(f"{label}: RMS rel {e['rms_rel']:.4g}")
    for label in ("FA2", "FA2 scalar fp32", "FA2 scalar+acc fp32", "FLASH-D float loop", "FLASH-D float loop, scalar fp32",
                  "FLASH-D float loop, scalar+acc fp32"):
        add(label, base[label])
    for acc in (fmt, "fp32"):
        p = engine_params("flashd", d=d, fmt=fmt, acc_fmt=acc, scalar_fmt="fp32")
        for frac in fracs:
            add(f"FLASH-D fixed loop, {frac} fraction bits, acc {p.acc_fmt.name}", p, flashd_fixed_loop,
                frac=frac, int_bits=int_bits)
        for frac in (8, 12):
            add(f"FLASH-D fixed loop, {frac} fraction bits, floor, acc {p.acc_fmt.name}", p, flashd_fixed_loop,
                frac=frac, int_bits=int_bits, rounding="floor")
    return rows


def table(rows):
    """Markdown: each row's RMS and max relative error and its RMS error over FA2's."""
    fa2 = next(r["rms_rel"] for r in rows if r["label"] == "FA2")
    lines = ["| configuration | RMS rel | max rel | RMS vs FA2 (all bf16) | saturated steps |", "|---|---|---|---|---|"]
    for r in rows:
        sat = "-" if r["saturated"] is None else str(r["saturated"])
        lines.append(f"| {r['label']} | {r['rms_rel']:.3g} | {r['max_rel']:.3g} | {r['rms_rel'] / fa2:.2f}x | {sat} |")
    floor = rows[0]["floor_rms_rel"]
    return "\n".join(lines) + f"\n\nFloor (the exact output rounded once to the format): RMS rel {floor:.3g}."


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m flashd.verif.loop_study", description=__doc__.split("\n\n")[0])
    ap.add_argument("--heads", type=int, default=24, help="fixed spread-out heads of the data (default 24)")
    ap.add_argument("--int-bits", type=int, default=6, help="the state's integer bits (default 6: ±64)")
    args = ap.parse_args(argv)
    path = default_data()
    if path != SHARED_DATA:
        print(f"note: {SHARED_DATA} not found; the packaged sample instead", file=sys.stderr)
    rows = study(heads(path, limit=args.heads), int_bits=args.int_bits,
                 progress=partial(print, file=sys.stderr))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
