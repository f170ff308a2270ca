"""Exhaustive accuracy of the nonlinear units, both methods, against float64 math.

Every finite input of the format in the function's domain goes through the bit-exact model
(:mod:`~flashd.verif.model` for the published ``pwl`` tables, :mod:`~flashd.verif.fixmodel`
for the faithful ``fix`` units); results are compared with numpy's float64 function wherever
the true value lies in the format's normal range above its lowest binade (results in the
lowest binade may flush to zero: counted as ``flushed``). Errors are in ulps of the format at
the true value, so a correctly rounded unit scores at most 0.5. Beside the max: the mean
signed error, the share of results that are the correctly rounded one, and the *lean*, the
mean signed distance from the correctly rounded result (errors that lean one way add up in
FLASH-D's chain; correct rounding's own errors may lean, as ln sigmoid(x ~ 0) ~ -ln 2 does).
Formats wider than 16 bits (fp32) are measured on :data:`SAMPLE` inputs (:func:`sample`: random
bit patterns and the ranges where each unit works hardest), not every one. float64 is the
oracle here (2**-29 of an fp32 ulp); ``tests/test_fixunits.py`` checks the faithful units
against 50-digit decimals.
"""

import numpy as np

from flashd.hdl.format import as_format
from flashd.hdl.pwl import SEGMENT_CHOICES, sigmoid_range

from . import fixmodel, model
from .registry import OpSpec

__all__ = ["FUNCS", "METHODS", "SAMPLE", "sample", "domain", "stats", "measure", "table"]

FUNCS = {"reciprocal": lambda x: 1.0 / x,
         "ln": np.log,
         "sigmoid": lambda x: np.exp(-np.logaddexp(0, -x)),     # 1 + tanh(x/2) would cancel for x << 0
         "logsigmoid": lambda x: -np.logaddexp(0, -x),
         "exp": np.exp}
METHODS = ("pwl", "fix")
EXHAUSTIVE_WIDTH = 16       # formats up to this wide are measured on every input
SAMPLE = 10**6              # inputs of a wider format


def sample(func, fmt, n=SAMPLE, seed=0):
    """``n`` bit patterns of ``fmt`` (seeded): a quarter any pattern, the rest where ``func``
    works hardest: |x| log-uniform over the range whose results are neither saturated nor
    trivial, both signs (ln: positive, half within 2**-8 of 1; the reciprocal: every binade,
    significands next to 1 and 2)."""
    fmt, rng = as_format(fmt), np.random.default_rng(seed)
    raw = rng.integers(0, 1 << fmt.width, n // 4, dtype=np.uint64)
    m = n - n // 4
    if func == "ln":
        v = np.concatenate([2.0 ** rng.uniform(fmt.emin, fmt.emax + 1, m // 2),
                            1 + rng.choice([-1, 1], m - m // 2) * 2.0 ** rng.uniform(-fmt.precision - 1, -8, m - m // 2)])
    elif func == "reciprocal":
        v = 2.0 ** rng.integers(fmt.emin, fmt.emax + 1, m) * np.where(
            rng.random(m) < 0.5, 1 + rng.random(m) * 2**-10, 2 - rng.random(m) * 2**-10)
    else:       # e**x and z = e**-|x| saturate beyond ~|emin| (log2(e) below): up to the next power of two
        v = rng.choice([-1, 1], m) * 2.0 ** rng.uniform(-fmt.precision - 6, np.log2(1 - fmt.emin) + 0.5, m)
    return np.concatenate([raw, model.from_float(fmt, v)]).astype(np.uint64)


def domain(func, fmt, bits=None):
    """Bit patterns of every finite input (or of ``bits``) where the function is finite and nonzero."""
    bits = np.arange(1 << fmt.width, dtype=np.uint64) if bits is None else np.asarray(bits, dtype=np.uint64)
    efield = (bits >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_mask)
    if func in ("sigmoid", "logsigmoid", "exp"):    # every finite input, zeros included
        return bits[efield != fmt.exp_mask]
    finite = (efield != 0) & (efield != fmt.exp_mask)
    if func == "ln":
        finite &= (bits & np.uint64(fmt.sign_bit)) == 0
    return bits[finite]


def stats(func, fmt, segments=8, method="pwl"):
    """``{"inputs", "max_ulp", "mean_ulp", "lean_ulp", "rounded", "max_abs", "max_rel",
    "worst_input", "flushed"}`` over the whole domain, or :func:`sample` of it for formats
    wider than 16 bits (``segments``: the pwl tables' size)."""
    fmt = as_format(fmt)
    x_bits = domain(func, fmt, sample(func, fmt) if fmt.width > EXHAUSTIVE_WIDTH else None)
    out = getattr(fixmodel, func)(fmt, x_bits) if method == "fix" else getattr(model, func)(fmt, x_bits, segments)
    y, x = model.to_float(fmt, out), model.to_float(fmt, x_bits)
    with np.errstate(over="ignore"):          # e**x beyond float64: kept out below anyway
        exact = FUNCS[func](x)
    lo, hi = 2.0 ** (fmt.emin + 1), (2 - 2.0 ** -fmt.man_bits) * 2.0 ** fmt.emax
    keep = ((np.abs(exact) >= lo) & (np.abs(exact) <= hi)) | (exact == 0)
    with np.errstate(over="ignore", invalid="ignore"):
        max_abs_all = float(np.max(np.abs(y - exact)[np.abs(exact) <= hi]))
    if func == "sigmoid" and method == "pwl":   # the table saturates to 0/1 by design: relative and ulp error inside it only
        keep &= np.abs(x) < 2.0 ** sigmoid_range(fmt)
    lowest = (np.abs(exact) >= 2.0 ** fmt.emin) & (np.abs(exact) < lo)
    flushed = int((lowest & (y == 0)).sum())
    with np.errstate(over="ignore"):
        nearest = model.to_float(fmt, model.from_float(fmt, exact))     # the correctly rounded result
    y, exact, nearest, x_kept = y[keep], exact[keep], nearest[keep], x_bits[keep]
    err = y - exact
    nz = exact != 0
    rel = np.where(nz, np.abs(err) / np.where(nz, np.abs(exact), 1), np.where(err == 0, 0, np.inf))
    ulp = np.where(nz, 2.0 ** (np.floor(np.log2(np.where(nz, np.abs(exact), 1))) - fmt.man_bits), 1)
    ulps = err / ulp
    k = int(np.argmax(np.abs(ulps)))
    return {"inputs": int(keep.sum()), "max_ulp": float(np.abs(ulps).max()), "mean_ulp": float(ulps.mean()),
            "lean_ulp": float(((y - nearest) / ulp).mean()), "rounded": float((y == nearest).mean()),
            "max_abs": max(float(np.abs(err).max()), max_abs_all), "max_rel": float(rel.max()),
            "worst_input": model.decode(fmt, x_kept[k]), "flushed": flushed}


def measure(funcs, fmts, methods=METHODS, segments=(8,), unit_cost=None, progress=None):
    """One row per function, format, method (and pwl table size): :func:`stats`, or the
    reason the combination does not exist; ``unit_cost(spec)`` (e.g. a synthesis) adds its
    dict to the row."""
    rows = []
    for func in funcs:
        for name in fmts:
            fmt = as_format(name)
            for method in methods:
                for s in (segments if method == "pwl" else [None]):
                    limit = fmt.precision + 1 if func in ("sigmoid", "exp") else fmt.man_bits
                    if s is not None and (s not in SEGMENT_CHOICES or s.bit_length() - 1 > limit):
                        continue
                    row = {"function": func, "fmt": fmt.name, "method": method, "segments": s}
                    try:
                        spec = OpSpec(op=func, fmt=fmt, method=method, segments=s)
                        row.update(stats(func, fmt, s or 8, method))
                        if unit_cost:
                            row.update(unit_cost(spec))
                    except ValueError as e:           # a format too narrow for ln, too wide for the planner
                        row["error"] = str(e)
                    rows.append(row)
                    if progress:
                        progress(f"{func} {fmt.name} {method}{f' {s}' if s else ''}: "
                                 + (row.get("error") or f"max {row['max_ulp']:.3g} ulp"))
    return rows


def table(rows):
    """Markdown of :func:`measure`'s rows (with area and delay where they were measured)."""
    cost = any("area" in r for r in rows)
    head = ["function", "format", "method", "max ulp", "mean ulp", "lean ulp", "correctly rounded", "max abs error",
            "worst input", "flushed"] + (["area (µm²)", "delay (ns)"] if cost else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        method = r["method"] + (f" {r['segments']}" if r["segments"] else "")
        if "error" in r:
            lines.append(f"| {r['function']} | {r['fmt']} | {method} | {r['error']} |" + " |" * (len(head) - 4))
            continue
        cells = [r["function"], r["fmt"], method, f"{r['max_ulp']:.3g}", f"{r['mean_ulp']:+.3f}", f"{r['lean_ulp']:+.3f}",
                 f"{100 * r['rounded']:.1f}%", f"{r['max_abs']:.3g}", r["worst_input"], str(r["flushed"])]
        if cost:
            cells += [f"{r['area']:,.0f}" if "area" in r else "-", f"{r['delay_ns']:.2f}" if "delay_ns" in r else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
