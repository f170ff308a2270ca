"""Exhaustive accuracy of the nonlinear units against float64 math.

Every finite input of the format in the function's domain goes through the bit-exact
model; results are compared with numpy's float64 ``1/x`` and ``log(x)`` wherever the true
value lies in the format's normal range above its lowest binade (results in the lowest
binade may flush to zero when the table errs low: counted as ``flushed``). ``ulp`` is the
format's ulp at the true value, so a correctly rounded unit would score 0.5.
"""

import numpy as np

from flashd.hdl.format import as_format
from flashd.hdl.pwl import SEGMENT_CHOICES, sigmoid_range

from . import model

FUNCS = {"reciprocal": (model.reciprocal, lambda x: 1.0 / x),
         "ln": (model.ln, np.log),
         "sigmoid": (model.sigmoid, lambda x: 0.5 * (1 + np.tanh(x / 2))),
         "logsigmoid": (model.logsigmoid, lambda x: -np.logaddexp(0, -x)),
         "exp": (model.exp, np.exp)}


def domain(func, fmt):
    """Bit patterns of every finite input where the function is finite and nonzero."""
    bits = np.arange(1 << fmt.width, dtype=np.uint64)
    if func in ("sigmoid", "logsigmoid", "exp"):    # every finite input, zeros included
        efield = (bits >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_mask)
        return bits[efield != fmt.exp_mask]
    efield = (bits >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_mask)
    finite = (efield != 0) & (efield != fmt.exp_mask)
    if func == "ln":
        finite &= (bits & np.uint64(fmt.sign_bit)) == 0
    return bits[finite]


def stats(func, fmt, segments):
    """``{"inputs", "max_abs", "max_rel", "max_ulp", "worst_input"}`` over the whole domain."""
    fmt = as_format(fmt)
    unit, exact_fn = FUNCS[func]
    x_bits = domain(func, fmt)
    y = model.to_float(fmt, unit(fmt, x_bits, segments))
    x = model.to_float(fmt, x_bits)
    with np.errstate(over="ignore"):          # e**x beyond float64: kept out below anyway
        exact = exact_fn(x)
    lo, hi = 2.0 ** (fmt.emin + 1), (2 - 2.0 ** -fmt.man_bits) * 2.0 ** fmt.emax
    keep = ((np.abs(exact) >= lo) & (np.abs(exact) <= hi)) | (exact == 0)
    with np.errstate(over="ignore", invalid="ignore"):
        max_abs_all = float(np.max(np.abs(y - exact)[np.abs(exact) <= hi]))
    if func == "sigmoid":            # beyond the table, sigmoid saturates to 0/1 by design: relative and ulp error inside it only
        keep &= np.abs(x) < 2.0 ** sigmoid_range(fmt)
    lowest = (np.abs(exact) >= 2.0 ** fmt.emin) & (np.abs(exact) < lo)
    flushed = int((lowest & (y == 0)).sum())
    y, exact, x_kept = y[keep], exact[keep], x_bits[keep]
    err = np.abs(y - exact)
    nz = exact != 0
    rel = np.where(nz, err / np.where(nz, np.abs(exact), 1), np.where(err == 0, 0, np.inf))
    ulp = np.where(nz, 2.0 ** (np.floor(np.log2(np.where(nz, np.abs(exact), 1))) - fmt.man_bits), 1)
    ulps = err / ulp
    k = int(np.argmax(ulps))
    return {"inputs": int(keep.sum()), "max_abs": max(float(err.max()), max_abs_all), "max_rel": float(rel.max()),
            "max_ulp": float(ulps.max()), "worst_input": model.decode(fmt, x_kept[k]), "flushed": flushed}


def table(funcs=("reciprocal", "ln", "sigmoid", "exp"), fmts=("bf16", "fp16", "fp8_e4m3"), segments=(4, 8, 16, 32)):
    """Markdown table of :func:`stats` for every allowed combination."""
    rows = ["| function | format | segments | inputs | max abs error | max rel error | max ulp error | worst input | flushed |",
            "|---|---|---|---|---|---|---|---|---|"]
    for func in funcs:
        for name in fmts:
            fmt = as_format(name)
            for s in segments:
                limit = fmt.precision + 1 if func in ("sigmoid", "exp") else fmt.man_bits
                if s not in SEGMENT_CHOICES or s.bit_length() - 1 > limit:
                    continue
                try:
                    r = stats(func, fmt, s)
                except ValueError as e:           # e.g. a format too narrow for ln
                    rows.append(f"| {func} | {name} | {s} | - | {e} | | | |")
                    continue
                rows.append(f"| {func} | {name} | {s} | {r['inputs']} | {r['max_abs']:.3g} | "
                            f"{r['max_rel']:.3g} | {r['max_ulp']:.3g} | {r['worst_input']} | {r['flushed']} |")
    return "\n".join(rows)
