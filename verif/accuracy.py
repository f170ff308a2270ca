"""Accuracy of the engines on attention inputs: .npz loading and checks, per-head runs of the
bit-exact model, and error statistics against float64 softmax attention.

The reference is computed in float64 from the *quantized* inputs (what the engine sees),
so the figures are the engine's arithmetic error, not the input rounding. ``floor`` is the
error of rounding that exact result once to the output format: no design in that format
can do better.
"""

import time
from pathlib import Path

import numpy as np

from flashd.hdl.format import as_format
from flashd.progress import steps

from . import model
from .attention_model import error_stats, softmax_attention
from .designs import engine_params, run_model

__all__ = ["load_qkv", "heads", "evaluate", "quantize", "SHARED_DATA", "SAMPLE_DATA", "default_data"]

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "minilm_qkv.npz"
SAMPLE_DATA = Path(__file__).resolve().parent / "data" / "minilm_t0_l2.npz"     # one layer of it, shipped


def default_data():
    """The shared MiniLM data beside the checkout, else the packaged sample (its t0_l2)."""
    return SHARED_DATA if SHARED_DATA.is_file() else SAMPLE_DATA


def _check_array(name, a, ndim):
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name}: dtype {a.dtype} is not a float type (need float16/32/64)")
    if a.ndim not in ndim:
        raise ValueError(f"{name}: shape {a.shape} has {a.ndim} dimensions (allowed: {' or '.join(map(str, ndim))})")
    if a.size == 0:
        raise ValueError(f"{name}: shape {a.shape} is empty (need at least one head, row and dimension)")
    bad = int((~np.isfinite(a)).sum())
    if bad:
        raise ValueError(f"{name}: {bad} NaN/Inf values (inputs must be finite; the engines follow IEEE "
                         f"rules for them, see the README, but error statistics would be meaningless)")


def quantize(fmt, x, name):
    """Finite floats ``x`` as ``fmt`` bit patterns; values the format cannot hold (they would
    become infinities, and the error statistics NaN) are refused, naming ``name``."""
    fmt = as_format(fmt)
    bits = model.from_float(fmt, x)
    over = int((~np.isfinite(model.to_float(fmt, bits))).sum())
    if over:
        big = float(np.max(np.abs(x)))
        raise ValueError(f"{name}: {over} values overflow {fmt.name} (largest magnitude {big:g}): scale the data "
                         "or choose a wider --fmt")
    return bits


def synthetic_qkv(n, d, seed, score_std=2.0):
    """One synthetic head: ``(Q, K, V)`` of shapes (1, n, d), n rows attending to n keys; q, k,
    v standard normal, q scaled so that the scores q.k have standard deviation ``score_std``."""
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((1, n, d)) * score_std / np.sqrt(d)
    return Q, rng.standard_normal((1, n, d)), rng.standard_normal((1, n, d))


def _files(path):
    try:
        return np.load(path).files
    except Exception:
        return []


def _plain(path):
    return {"q", "k", "v"} <= set(_files(path))


def _prefixes(path):
    """The ``<prefix>`` of every ``<prefix>_q`` in the file (at least one: else the file's own
    error from :func:`load_qkv`)."""
    return sorted({f[:-2] for f in _files(path) if f.endswith("_q")}) or [""]


def load_qkv(path, prefix=None):
    """``(Q, K, V)`` float64 arrays of shapes (H, R, d), (H, N, d), (H, N, d) from an .npz.

    The file holds ``q``, ``k``, ``v`` (or ``<prefix>_q`` ... with ``prefix``), each 2-D
    (one head: q (R, d), k and v (N, d)) or 3-D with a leading head axis; every query row
    attends to all N keys. q is used as given (fold 1/sqrt(d) into it beforehand).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--npz {path}: no such file")
    try:
        data = np.load(path)
    except Exception as e:                     # zip or pickle errors: not an .npz we can read
        raise ValueError(f"--npz {path}: not a readable .npz file ({e})") from None
    names = [f"{prefix}_{x}" if prefix else x for x in "qkv"]
    missing = [n for n in names if n not in data.files]
    if missing:
        hint = sorted({f.rsplit('_', 1)[0] for f in data.files if f.endswith('_q')})
        raise ValueError(f"--npz {path}: arrays {missing} not found (it has {', '.join(data.files[:12])}"
                         + (f"; prefixes: {', '.join(hint[:20])}" if hint else "") + ")")
    arrays = []
    for n in names:
        a = np.asarray(data[n])
        _check_array(f"{path.name}:{n}", a, (2, 3))
        arrays.append(a[None] if a.ndim == 2 else a)
    Q, K, V = arrays
    if not (Q.shape[0] == K.shape[0] == V.shape[0] and K.shape == V.shape and Q.shape[2] == K.shape[2]):
        raise ValueError(f"{path.name}: shapes q{Q.shape}, k{K.shape}, v{V.shape} do not match "
                         f"(need q (H, R, d), k and v (H, N, d), same H and d)")
    return Q.astype(np.float64), K.astype(np.float64), V.astype(np.float64)


def heads(path, limit=None):
    """``[(label, Q, K, V), ...]`` for every head of every ``<prefix>_q`` group in a file with
    the shared MiniLM layout (``t{text}_l{layer}_{q,k,v}``, each (heads, tokens, d)), or of the
    plain ``q``, ``k``, ``v`` arrays."""
    load_qkv(path, None if _plain(path) else _prefixes(path)[0])        # checks the file, names it if bad
    out = []
    for prefix in [None] if _plain(path) else _prefixes(path):
        Q, K, V = load_qkv(path, prefix)
        for h in range(Q.shape[0]):
            out.append((f"{prefix}_h{h}" if prefix else f"h{h}", Q[h], K[h], V[h]))
    if limit is not None:
        rng = np.random.default_rng(0)                  # a fixed spread-out subset
        out = [out[i] for i in sorted(rng.choice(len(out), size=min(limit, len(out)), replace=False))]
    return out


def evaluate(params, problems, run=run_model):
    """Error statistics of one engine configuration over ``problems`` ``[(label, Q, K, V)]``
    (one head each: Q (R, d), K and V (N, d)). Returns a dict: ``max_abs``, ``max_rel``,
    ``rms_rel`` (pooled over all heads), the same for ``floor``, ``skip`` and ``copy``
    fractions of the lane updates (pooled; ``skip_range``: the least and most of one head,
    which differ widely: a head whose scores are concentrated skips most of its keys), and ``rows``.
    ``run(params, q, k, v)``: the model (default the design's golden model)."""
    fmt = params.fmt
    acc = {"err2": 0.0, "ref2": 0.0, "max_abs": 0.0, "max_rel": 0.0, "nonfinite": 0}
    floor = {"err2": 0.0, "max_abs": 0.0, "max_rel": 0.0}
    skipped = copied = updates = rows = 0
    per_head = []
    for label, Q, K, V in problems:
        R, (N, d) = Q.shape[0], K.shape
        q, k, v = (quantize(fmt, x, f"{label} {n}") for n, x in (("q", Q), ("k", K), ("v", V)))
        kk, vv = np.broadcast_to(k, (R, N, d)), np.broadcast_to(v, (R, N, d))
        ref = softmax_attention(model.to_float(fmt, q), model.to_float(fmt, kk), model.to_float(fmt, vv))
        res = run(params, q, kk, vv)
        y = model.to_float(fmt, res.out)
        for store, out in ((acc, y), (floor, model.to_float(fmt, model.from_float(fmt, ref)))):
            e = error_stats(out, ref)
            store["max_abs"] = max(store["max_abs"], e["max_abs"])
            store["max_rel"] = max(store["max_rel"], e["max_rel"])
            store["err2"] += float(np.sum((out - ref) ** 2))
        acc["ref2"] += float(np.sum(ref ** 2))
        acc["nonfinite"] += int((~np.isfinite(y)).sum())
        skipped, copied, updates, rows = skipped + res.skipped, copied + res.copied, updates + res.updates, rows + R
        per_head.append(res.skipped / max(res.updates, 1))
    return {"max_abs": acc["max_abs"], "max_rel": acc["max_rel"], "rms_rel": float(np.sqrt(acc["err2"] / acc["ref2"])),
            "floor_max_rel": floor["max_rel"], "floor_rms_rel": float(np.sqrt(floor["err2"] / acc["ref2"])),
            "skip": skipped / max(updates, 1), "skip_range": (min(per_head), max(per_head)),
            "copy": copied / max(updates, 1), "rows": rows,
            "nonfinite": acc["nonfinite"]}


def measure(configs, problems, progress=None):
    """:func:`evaluate` of each ``(label, params)``: ``[{"label": ..., **statistics}]``;
    ``progress(line)`` hears of each configuration as it is done (seconds each)."""
    configs, rows = list(configs), []
    t0 = time.time()
    with steps(len(configs), "configurations", unit="config") as bar:
        for k, (label, params) in enumerate(configs, 1):
            rows.append({"label": label, **evaluate(params, problems)})
            bar.update()
            if progress:
                progress(f"  {k}/{len(configs)} {label} ({time.time() - t0:.0f} s)")
    return rows


def accuracy_table(data):
    """Markdown of ``flashd accuracy``'s result (``data["rows"]`` from :func:`measure`)."""
    lines = ["| configuration | max abs | max rel | RMS rel | floor RMS rel | skipped (least-most of one head) | copied |",
             "|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        lo, hi = r["skip_range"]
        lines.append(f"| {r['label']} | {r['max_abs']:.3g} | {r['max_rel']:.3g} | {r['rms_rel']:.3g} | "
                     f"{r['floor_rms_rel']:.3g} | {100 * r['skip']:.1f}% ({100 * lo:.1f}-{100 * hi:.1f}%) | "
                     f"{100 * r['copy']:.1f}% |")
    return "\n".join(lines)


def table(configs, problems, progress=None):
    """Markdown table: one line per ``(label, params)``."""
    return accuracy_table({"rows": measure(configs, problems, progress)})


def configs(fmt, d, **common):
    """The standard comparison set at one input format: both designs at the published
    formats (with the faithful units and with the published tables; FLASH-D's default weight
    loop in fixed point, and in floating point), then with a wider scalar path, then wider
    accumulators, and FLASH-D's options. A label says when the units are the
    published tables (``pwl``: asked for, or the only ones a wide scalar format has)."""
    wide = "fp32"
    out = []
    for label, design, kw in [
        ("FA2", "fa2", {}),
        ("FA2", "fa2", {"method": "pwl"}),
        ("FLASH-D", "flashd", {}),                                  # the weight loop in fixed point
        ("FLASH-D float loop", "flashd", {"loop_frac": None}),
        ("FLASH-D", "flashd", {"method": "pwl"}),                   # the tables: the floating-point loop
        ("FLASH-D published (saturation + blend)", "flashd", {"saturation": "published", "update": "blend"}),
        ("FLASH-D published (saturation + blend)", "flashd", {"saturation": "published", "update": "blend",
                                                              "method": "pwl"}),
        (f"FA2 scalar {wide}", "fa2", {"scalar_fmt": wide}),
        (f"FA2 scalar {wide}", "fa2", {"scalar_fmt": wide, "method": "pwl"}),
        (f"FLASH-D scalar {wide}", "flashd", {"scalar_fmt": wide}),
        (f"FLASH-D float loop, scalar {wide}", "flashd", {"scalar_fmt": wide, "loop_frac": None}),
        (f"FLASH-D scalar {wide}", "flashd", {"scalar_fmt": wide, "method": "pwl"}),
        (f"FLASH-D scalar {wide}, blend", "flashd", {"scalar_fmt": wide, "update": "blend"}),
        (f"FLASH-D scalar {wide}, published saturation", "flashd", {"scalar_fmt": wide, "saturation": "published"}),
        (f"FA2 scalar+acc {wide}", "fa2", {"scalar_fmt": wide, "acc_fmt": wide}),
        (f"FA2 scalar+acc {wide}", "fa2", {"scalar_fmt": wide, "acc_fmt": wide, "method": "pwl"}),
        (f"FLASH-D scalar+acc {wide}", "flashd", {"scalar_fmt": wide, "acc_fmt": wide}),
        (f"FLASH-D float loop, scalar+acc {wide}", "flashd", {"scalar_fmt": wide, "acc_fmt": wide, "loop_frac": None}),
        (f"FLASH-D scalar+acc {wide}", "flashd", {"scalar_fmt": wide, "acc_fmt": wide, "method": "pwl"}),
    ]:
        try:
            p = engine_params(design, d=d, fmt=fmt, **kw, **common)
        except ValueError:
            continue                          # e.g. a format too narrow for a unit
        out.append((label + (", pwl units" if p.method == "pwl" else ""), p))
    return out
