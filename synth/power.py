"""Power from simulated switching activity: the synthesized netlist of an engine simulated on
real or random rows (by :mod:`flashd.synth.gatesim`, or Verilator's SAIF of its gate-level
model: every cell output's toggle count, checked bit-exact against the golden model in the same
run), and OpenSTA's per-instance power.

Debian's OpenSTA (2019) cannot read SAIF or VCD and its ``set_power_activity -pins`` is
broken, so the activity is applied outside it (``../shared/notes/ppa.md``): OpenSTA reports
every instance's power at a global activity of 0 and of 1 (transitions per clock period);
power is linear in activity, so an instance whose output toggles ``a`` times per cycle draws
``P0 + (P1 - P0) * a`` (internal + switching), plus its leakage. Left out: glitches (a
zero-delay simulation), input-pin internal power beyond what follows the output's activity,
the clock tree (none before placement: each flip-flop's clock pin is counted, the buffers
that would drive it are not), and wires beyond the wire-load model.
"""

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flashd.verif.accuracy import evaluate, quantize
from flashd.verif.attention_bench import make_stimulus, regress_engine
from flashd.verif.designs import design as get_design
from flashd.verif.designs import engine_params

from .closure import close_timing
from .flow import BOX_PREFIX, flat_netlist, gate_model, synth_root
from .gatesim import GateSim
from .liberty import read_cells
from .netbench import INPUTS, run_engine
from .netlist import CONN, INSTANCE, read_netlist
from .provenance import provenance
from .report import engine_report
from .sta import StaError, run_cached

__all__ = ["PowerError", "read_saif", "instance_power", "opensta_power", "cell_outputs", "activity_power",
           "engine_power", "power_text", "real_groups", "GLUE", "ACTIVITY"]

GLUE = "registers and control"      # cells outside every unit: pipeline registers, valid/control logic
_WATT = {"W": 1.0, "mW": 1e-3, "uW": 1e-6, "nW": 1e-9, "pW": 1e-12, "fW": 1e-15}


class PowerError(RuntimeError):
    """A library without power data, an activity file that does not fit the netlist."""


def read_saif(path):
    """``(toggles, cycles)`` from Verilator's SAIF of a gate-level model: ``{net: toggle
    count}`` with nested instance scopes joined by ``.`` below the top (as flattening names
    them: ``dot.unit`` + ``_12_`` = ``dot.unit._12_``; vector bits as SAIF writes them,
    ``x\\[3\\]``), and the clock cycles simulated (half the toggles of ``clk``)."""
    toggles, stack = {}, []
    net = re.compile(r"\((\S+) \(T0 .*?\(TC (\d+)\)\)\s*$")
    for line in Path(path).read_text().splitlines():
        s = line.strip()
        if s.startswith("(INSTANCE "):
            stack.append(s.split(None, 1)[1])
        elif s.startswith("(NET"):
            stack.append(None)
        elif s == ")":
            if stack:
                stack.pop()
        elif m := net.match(s):
            scope = [x for x in stack[1:] if x is not None]
            toggles[".".join(scope + [m.group(1)])] = int(m.group(2))
    if not toggles.get("clk"):
        raise PowerError(f"{path}: no toggling clk net in the SAIF (was the engine simulated?)")
    return toggles, toggles["clk"] // 2


def _candidates(net):
    """A Verilog net reference as SAIF may name it: escaped identifiers are written as they
    are (``dot.unit.x[0]``), vector bits with escaped brackets (``x\\[0\\]``)."""
    net = net.strip().lstrip("\\").strip()
    return (net, net.replace("[", "\\[").replace("]", "\\]"))


_NUM = r"([-+]?\d[\d.]*(?:[eE][-+]?\d+)?)"
_NUM4 = re.compile(rf"^\s*{_NUM}\s+{_NUM}\s+{_NUM}\s+{_NUM}\s+(\S.*?)\s*$", re.M)


def cell_outputs(flat_path, library):
    """``{instance: (cell, [(pin, net), ...])}`` of a flat netlist: each library cell's output
    pins and the nets they drive (pins from the Liberty file's ``direction : output``)."""
    cells = read_cells(library.path)
    out = {}
    for cell, name, conns in INSTANCE.findall(Path(flat_path).read_text()):
        if cell not in cells:
            continue
        pins = dict(CONN.findall(conns))
        out[name.strip().lstrip("\\")] = (cell, [(p, pins[p]) for p in cells[cell].outputs if p in pins])
    return out


@dataclass
class InstancePower:
    """One instance at activity 0 and 1 (watts)."""
    internal0: float
    switching0: float
    internal1: float
    switching1: float
    leakage: float


def _setup(flat_path, top, library, clock_ns):
    """OpenSTA commands that load the flat netlist and clock it (inputs clocked: without a
    clocked input delay OpenSTA takes their activity as unclocked, ppa.md)."""
    if not library.power:
        raise PowerError(f"library {library.name} ({library.path}) has no power data (no internal_power groups): "
                         "use --pdk sky130 or a --liberty file with power tables")
    scale = {"ns": 1.0, "ps": 1e3, "us": 1e-3}[library.time_unit]
    return [f"read_liberty {library.path}", f"read_verilog {flat_path}", f"link_design {top}",
            f"create_clock -name clk -period {clock_ns * scale} [get_ports clk]",
            "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]"]


def instance_power(flat_path, top, library, clock_ns, work):
    """``{instance: InstancePower}`` from OpenSTA (``report_power -instances`` at global
    activity 0 and 1, clock ``clock_ns`` on ``clk``), cached by (netlist, library, clock)."""
    lines = _setup(flat_path, top, library, clock_ns) + ["set cells [get_cells *]"]
    for a in (0, 1):
        lines += [f"set_power_activity -global -activity {a}", f'puts "@@ {a}"', "report_power -instances $cells -digits 6"]
    out = run_cached("\n".join(lines + ["exit", ""]), work, "power", library, f"{flat_path} (power)",
                     Path(flat_path).read_text())
    sections = dict(re.findall(r"^@@ (\d)\n((?:(?!^@@ ).*\n?)*)", out, re.M))
    rows = {}
    for a in ("0", "1"):
        for m in _NUM4.finditer(sections.get(a, "")):
            rows.setdefault(m.group(5), {})[a] = tuple(float(m.group(k)) for k in (1, 2, 3))
    if not rows:
        raise StaError(f"OpenSTA reported no instance power for {flat_path} (log in {work})")
    return {name: InstancePower(v["0"][0], v["0"][1], v["1"][0], v["1"][1], v["0"][2]) for name, v in rows.items()}


def opensta_power(flat_path, top, library, clock_ns, activity, work=None):
    """OpenSTA's own total (watts) with every net at ``activity``: the check of the method."""
    work = work or Path(flat_path).parent / "power_check"
    lines = _setup(flat_path, top, library, clock_ns) + [f"set_power_activity -global -activity {activity}",
                                                         "report_power -digits 6"]
    out = run_cached("\n".join(lines + ["exit", ""]), work, "uniform", library, f"{flat_path} (power)",
                     Path(flat_path).read_text())
    m = re.search(rf"^Total\s+{_NUM}\s+{_NUM}\s+{_NUM}\s+{_NUM}", out, re.M)
    if not m:
        raise StaError(f"OpenSTA printed no total power for {flat_path} (log in {work})")
    return float(m.group(4))


def activity_power(instances, outputs, activity, category):
    """Sum the instances' power at their simulated activity. ``instances`` from
    :func:`instance_power`, ``outputs`` from :func:`cell_outputs`, ``activity(pin net name,
    net name) -> toggles per cycle or None``, ``category(instance) -> functional unit``.
    Returns ``{"per_unit": {unit: {dynamic, leakage, total}}, "dynamic", "leakage", "total"}``
    in watts, and the instances whose activity was not found."""
    per_unit, missing = {}, []
    for name, p in instances.items():
        cell, pins = outputs.get(name, (None, []))
        alphas = [activity(f"{name}.{pin}", net) for pin, net in pins]
        known = [a for a in alphas if a is not None]
        if pins and not known:
            missing.append(name)
        a = sum(known) / len(known) if known else 0.0      # several outputs (full adder): their mean
        dyn = p.internal0 + p.switching0 + (p.internal1 + p.switching1 - p.internal0 - p.switching0) * a
        u = per_unit.setdefault(category(name), {"dynamic": 0.0, "leakage": 0.0})
        u["dynamic"] += dyn
        u["leakage"] += p.leakage
    for u in per_unit.values():
        u["total"] = u["dynamic"] + u["leakage"]
    total = {k: sum(u[k] for u in per_unit.values()) for k in ("dynamic", "leakage", "total")}
    return {"per_unit": per_unit, **total}, missing


def saif_activity(toggles, cycles):
    """``activity(pin net, net)`` for :func:`activity_power`: toggles per cycle of the cell's
    own output-pin net when the gate model kept it (``inst.X``), else of the net it drives."""
    def activity(pin_net, net):
        for n in (*_candidates(pin_net), *_candidates(net)):
            if n in toggles:
                return toggles[n] / cycles
        return None
    return activity


def to_unit(watts, unit):
    """Watts in the library's power unit (``nW``, ``pW``, ...)."""
    if unit not in _WATT:
        raise PowerError(f"power unit {unit!r} is not one of {', '.join(_WATT)}")
    return watts / _WATT[unit]


def in_mw(value, unit):
    """A power in the library's ``unit`` as milliwatts (tables)."""
    return to_unit(value * _WATT[unit], "mW")


_ANON_WIRE = re.compile(r"^\s*wire\s+(\[[^\]]*\]\s*)?_\d+_\s*;\s*$")


def trace_named_only(gates):
    """The gate-level model with Verilator tracing off for Yosys's anonymous wires (``_123_``:
    the logic inside each cell's function): the activity is read on the kept output-pin nets
    (``<instance>.<pin>``), and tracing every internal wire made the C++ ~4x larger."""
    out = []
    for line in gates.splitlines():
        out.append(f"/*verilator tracing_off*/{line}/*verilator tracing_on*/" if _ANON_WIRE.match(line) else line)
    return "\n".join(out) + "\n"


def real_groups(Q, K, V, fmt, P, head=0, rows=None, join=1, source="data"):
    """Engine input groups from real attention data (float arrays (H, R, d), (H, N, d)):
    rows of one head in groups of P, each row with all N keys. ``join`` heads side by side
    make one of ``join * d`` (heads ``head*join .. head*join+join-1``: a wider head from real
    activations). Returns ``(groups, rows used)``; rows are rounded down to a multiple of P."""
    if join > 1:
        H = Q.shape[0] // join
        if H < 1:
            raise ValueError(f"--join-heads {join}: {source} has only {Q.shape[0]} heads")
        Q, K, V = (np.concatenate([X[j:H * join:join] for j in range(join)], axis=2) for X in (Q, K, V))
    if not 0 <= head < Q.shape[0]:
        raise ValueError(f"--head {head}: {source} has heads 0..{Q.shape[0] - 1}" + (f" (after joining {join})" if join > 1 else ""))
    R = Q.shape[1] if rows is None else rows
    if not 1 <= R <= Q.shape[1]:
        raise ValueError(f"--rows {rows}: {source} head {head} has 1..{Q.shape[1]} rows")
    R -= R % P
    if R == 0:
        raise ValueError(f"--rows {rows}: fewer than one group of P={P} rows")
    k = quantize(fmt, K[head], f"{source} k")
    v = quantize(fmt, V[head], f"{source} v")
    q = quantize(fmt, Q[head, :R], f"{source} q")
    groups = [(q[g:g + P], np.broadcast_to(k, (P,) + k.shape),
               np.broadcast_to(v, (P,) + v.shape)) for g in range(0, R, P)]
    return groups, R


ACTIVITY = ("netlist", "verilator")
INPUT_TEXT = {"registered": "inputs changed at the rising edge with the flip-flops (register-fed)",
              "bench": "inputs changed at the falling edge (the cocotb bench's timing)"}


def engine_power(design, *, library, clock_ns, groups, source, name=None, seed=1, work=None, progress=print,
                 activity="netlist", flat=False, inputs=None, **params):
    """Power of one engine at ``clock_ns``: the design the timing flow chose (fewest stages,
    smallest P meeting the clock, unless ``params`` fix ``stages``/``interleave``), its
    netlist flattened and simulated on ``groups`` (checked bit for bit against the model, every
    net's value changes counted), each instance's power at its activity, summed per functional
    unit. Values in the library's power unit; energy in pJ. ``activity``: ``"netlist"``, the
    flat netlist simulated by :mod:`flashd.synth.gatesim` (nothing to build); ``"verilator"``,
    the gate-level model built with Verilator, its SAIF (the reference the first is checked
    against; ``flat``: the model flattened, else one module per unit). ``inputs``: when the
    engine's inputs change (:func:`flashd.synth.netbench.run_engine`): ``"registered"`` (the
    default with the netlist activity: with the flip-flops, as from registers on the same
    clock) or ``"bench"`` (at the falling edge, as the cocotb bench: Verilator's only timing)."""
    dsg = get_design(design)
    design = dsg.name
    t0 = time.time()
    if activity not in ACTIVITY:
        raise ValueError(f"activity {activity!r}: one of {', '.join(ACTIVITY)}")
    inputs = inputs or {"netlist": "registered", "verilator": "bench"}[activity]
    if inputs not in INPUTS or (activity == "verilator" and inputs != "bench"):
        allowed = "bench (the cocotb bench drives them at the falling edge)" if activity == "verilator" else ", ".join(INPUTS)
        raise ValueError(f"inputs {inputs!r} with activity {activity}: allowed {allowed}")
    if ("stages" in params) != ("interleave" in params):
        raise ValueError("stages and interleave: give both or neither (then the timing flow chooses them)")
    if "stages" in params:
        rep = engine_report(design, library=library, clock_ns=clock_ns, **params)
    else:
        rep, _ = close_timing(design, clock_ns, library=library, progress=progress, **params)
    p = {k: v for k, v in rep["parameters"].items() if k != "design"}
    P = p["interleave"]
    if callable(groups):
        groups = groups(P)
    t_synth = time.time() - t0
    name = (name or f"power_{design}_{p['fmt']}_d{p['d']}") + {"netlist": "", "verilator": "_verilator"}[activity] + (
        "_flat" if flat and activity == "verilator" else "")
    work = Path(work or synth_root() / "power" / name)
    work.mkdir(parents=True, exist_ok=True)
    saif = work / "activity.saif"
    saif.unlink(missing_ok=True)
    t_flat = time.time()
    flat_path = flat_netlist(rep["netlist"], rep["top"], library)
    t_flat = time.time() - t_flat

    def per_instance():     # OpenSTA and Python on the flat netlist, beside the simulation
        t = time.time()
        return instance_power(flat_path, rep["top"], library, clock_ns, work), cell_outputs(flat_path, library), time.time() - t
    with ThreadPoolExecutor(1) as pool:
        sta = pool.submit(per_instance)
        if activity == "netlist":
            sim, act, cycles, t_model, t_sim = _netlist_activity(design, flat_path, library, groups, seed, p, inputs,
                                                                 progress)
            how = f"flashd's zero-delay simulation of the flat netlist {Path(flat_path).name} (Liberty functions)"
        else:
            # units kept as modules: Verilator compiles each distinct unit once (64 lanes, one module)
            t_model = time.time()
            gates = trace_named_only(gate_model(flat_path if flat else rep["netlist"], rep["top"], library, "engine",
                                                keep=None if flat else BOX_PREFIX + "*"))
            t1 = time.time()
            t_model = t1 - t_model
            sim = regress_engine(design, "verilator", name, groups, seed=seed, gap=0.0, verilog=gates, saif=saif, **p)
            t_sim = time.time() - t1
            toggles, cycles = read_saif(saif)
            act = saif_activity(toggles, cycles)
            how = (f"Verilator SAIF of the gate-level model ({'flat' if flat else 'one module per unit'}) "
                   f"of {Path(rep['netlist']).name}")
        t2 = time.time()
        instances, outputs, t_sta = sta.result()

    def unit(instance):
        # the output stream's FIFO is glue, as in the area breakdown (synthesis flattens it into the top)
        head = instance.split(".", 1)[0] if "." in instance else None
        return GLUE if head in (None, "out_fifo") else dsg.category(head)
    watts, missing = activity_power(instances, outputs, act, unit)
    if len(missing) > 0.001 * len(instances):
        raise PowerError(f"{len(missing)} of {len(instances)} instances of {flat_path} have no activity from the "
                         f"{how} (e.g. {', '.join(missing[:3])}): the simulation and the netlist disagree on names")
    pw_unit = library.units.get("leakage") or "nW"
    pairs, rows = sim.pairs, sim.rows
    energy_pj = watts["total"] * clock_ns * 1e-9 * cycles * 1e12      # over the whole simulation
    out = {"design": design, "parameters": rep["parameters"], "library": library.as_dict(), "clock_ns": clock_ns,
           "area": rep["area"], "area_unit": rep["area_unit"], "timing": rep["timing"], "latency": rep["latency"],
           "power": {"unit": pw_unit, "dynamic": to_unit(watts["dynamic"], pw_unit),
                     "leakage": to_unit(watts["leakage"], pw_unit), "total": to_unit(watts["total"], pw_unit),
                     "per_unit": {k: {m: to_unit(x, pw_unit) for m, x in v.items()}
                                  for k, v in sorted(watts["per_unit"].items(), key=lambda kv: -kv[1]["total"])},
                     "energy_unit": "pJ", "energy_per_pair": energy_pj / pairs, "energy_per_row": energy_pj / rows,
                     "activity_source": f"{how}, {source}, {INPUT_TEXT[inputs]}; bit-exact against the model: {sim}",
                     "inputs": inputs,
                     "data": source, "cycles_simulated": cycles, "pairs": pairs, "rows": rows,
                     "instances": len(instances), "instances_without_activity": len(missing)},
           "seconds": {"synthesis_and_timing": round(t_synth, 1), "flat_netlist": round(t_flat, 1),
                       "gate_model": round(t_model, 1),
                       "simulation": round(t_sim, 1), "per_instance_power_beside": round(t_sta, 1),
                       "power": round(time.time() - t2, 1)},
           "saif": str(saif) if activity == "verilator" else None, "netlist": str(flat_path),
           "kind": "power", "provenance": provenance(timed=True)}
    (work / "power.json").write_text(json.dumps(out, indent=1))
    return out


def _netlist_activity(design, flat_path, library, groups, seed, params, inputs, progress=None):
    """The flat netlist simulated by :mod:`flashd.synth.gatesim` on the engine bench's stimulus
    (``seed``: the rows, the valid gaps none, the flip-flops' power-up values). Returns the
    bench's report line, ``activity(pin net, net)``, the cycles, and the seconds spent reading
    and compiling the netlist and simulating it. A mismatch with the model raises PowerError."""
    t = time.time()
    sim = GateSim(read_netlist(flat_path), library, seed=seed)
    stim = make_stimulus(engine_params(design, **params), groups, np.random.default_rng(seed))
    t_model = time.time() - t
    t = time.time()
    result, cycles = run_engine(sim, stim, seed=seed, inputs=inputs, progress=progress)
    if not result.ok:
        raise PowerError(f"the flat netlist {flat_path} does not compute what the model does:\n{result.report(10)}")
    counts = sim.toggles

    def act(pin_net, net):
        b = sim.pin_bit.get(pin_net)
        return None if b is None else counts[b] / cycles
    return result, act, cycles, t_model, time.time() - t


def power_text(r):
    """Markdown summary of :func:`engine_power`."""
    pw, q = r["power"], r["parameters"]
    mw = in_mw(1.0, pw["unit"])
    lines = [f"{r['design']} {q['fmt']} d={q['d']} at {r['clock_ns']} ns in {r['library']['name']} "
             f"(stages {q['stages']}, P {q['interleave']}, {r['area']:.0f} {r['area_unit']})",
             f"activity: {pw['activity_source']}", "",
             "| part | dynamic (mW) | leakage (mW) | total (mW) | share |", "|---|---|---|---|---|"]
    for k, v in list(pw["per_unit"].items()) + [("total", pw)]:
        lines.append(f"| {k} | {v['dynamic'] * mw:.4f} | {v['leakage'] * mw:.3g} | {v['total'] * mw:.4f} | "
                     f"{100 * v['total'] / pw['total']:.1f}% |")
    lines.append(f"\nenergy: {pw['energy_per_pair']:.3f} pJ per (k, v) pair, {pw['energy_per_row']:.1f} pJ per output "
                 f"row ({pw['cycles_simulated']} cycles, {pw['pairs']} pairs, {pw['rows']} rows; clock tree, glitches "
                 f"and input-pin internal power not modelled)")
    return "\n".join(lines)


SKIP_VARIANTS = (
    ("default thresholds", "default", {}),
    ("skipping disabled", "noskip", {"skip_below": None, "copy_above": None}),
    ("published rule (dx <= -6 skip, dx >= 11 copy)", "published", {"saturation": "published"}),
)


def skip_study(fmt, d, groups, source, problems, *, library, clock_ns, seed=1, progress=print):
    """What FLASH-D's skip threshold buys: the engine at its default thresholds, with skipping
    (and copying) disabled, and at the published rule, each its own smallest design at
    ``clock_ns``, its power from :func:`engine_power` on ``groups`` beside its error on
    ``problems`` (real heads at the data's d, as :func:`flashd.verif.accuracy.evaluate`).
    Returns ``(rows, markdown)``."""
    data_d = problems[0][1].shape[1]
    rows = []
    for label, tag, kw in SKIP_VARIANTS:
        progress(f"skip study: {label}")
        r = engine_power("flashd", library=library, clock_ns=clock_ns, groups=groups, source=source, seed=seed,
                         name=f"power_flashd_{fmt}_d{d}_{tag}", progress=progress, d=d, fmt=fmt, **kw)
        err = evaluate(engine_params("flashd", d=data_d, fmt=fmt, **kw), problems)
        rows.append({"label": label, "power": r, "error": err})
    base = rows[0]["power"]["power"]["total"]
    q = rows[0]["power"]
    lines = [f"FLASH-D {fmt} d={d} at {clock_ns} ns in {q['library']['name']}: power on {source}; error (RMS and max "
             f"relative, vs float64 attention) and the share of lane updates skipped / copied on {len(problems)} "
             f"real heads (d={data_d})", "",
             f"| variant | stages / P | area ({q['area_unit']}) | power (mW) | vs default | energy per pair (pJ) | RMS rel | max rel "
             "| skipped | copied |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pw, pq, e = r["power"]["power"], r["power"]["parameters"], r["error"]
        lines.append(f"| {r['label']} | {pq['stages']} / {pq['interleave']} | {r['power']['area']:.0f} | "
                     f"{in_mw(pw['total'], pw['unit']):.3f} | {100 * (pw['total'] / base - 1):+.1f}% | "
                     f"{pw['energy_per_pair']:.1f} | {e['rms_rel']:.4f} | {e['max_rel']:.3g} | "
                     f"{100 * e['skip']:.1f}% | {100 * e['copy']:.1f}% |")
    return rows, "\n".join(lines)
