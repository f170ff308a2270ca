"""``flashd``: the command line. ``flashd <command> --help`` lists every option.

    flashd generate OP|fa2|flashd ...  Verilog and a JSON sidecar (ports, parameters, latency)
    flashd run      ...                engine models (and optionally RTL) on Q/K/V from an .npz
    flashd verify   ...                random rows through an engine's RTL, bit-exact
    flashd accuracy ...                error table of the standard configurations on real data
    flashd synth    fa2|flashd|OP ...  Yosys area report of one engine, per functional unit, or of one operator
                                       (--clock-ns: OpenSTA timing)
    flashd compare  ...                FLASH-D vs FA2 area sweep, or at equal clock (--clock-ns): table, CSV/JSON, plot
    flashd tradeoff ...                area beside real-data error
    flashd ops-area ...                operators synthesized: generic cells beside FloPoCo's, GE
    flashd regress  ...                operators simulated against the golden model
    flashd coeffs   ...                one fitted table (a, b per piece)
    flashd characterize ...            error table of the nonlinear units (every input; fp32 a sample)
    flashd tables   PAGE.md ...        docs' result tables rewritten from the flows' JSON (--check: stale ones)
    flashd cache    info|clean         the cache's size; clean it (all, or down to --max-size)

``generate`` writes ``<module>.v`` and a ``<module>.json`` sidecar; the module name encodes
every non-default parameter. Each command group registers its commands (``GROUPS``).
"""

import argparse
import os
import shlex
import sys

from flashd import __version__
from flashd.progress import say, set_quiet
from flashd.synth import provenance
from flashd.synth.flow import YOSYS, use_yosys
from flashd.verif.bench import RegressionFailed
from flashd.verif.cache import DEFAULT_MAX, cache_dir, keep_bounded, set_cache_dir, size_bound

from . import hdl_commands, synth_commands, verif_commands

GROUPS = (hdl_commands, verif_commands, synth_commands)      # each: register(subparsers)


def _parser():
    """The parser and its commands (``{name: subparser}``)."""
    ap = argparse.ArgumentParser(prog="flashd", description=__doc__.split("\n")[0])
    ap.add_argument("--version", action="version", version=f"flashd {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true", help="show the simulators' and cocotb's output "
                    "(default: kept in build.log and sim.log in each build directory; FLASHD_VERBOSE=1 likewise)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print results and errors only: no progress lines or "
                    "bars (bars are drawn on a terminal only; FLASHD_QUIET=1 likewise)")
    ap.add_argument("--cache-dir", dest="cache_dir", help="where builds, syntheses and their caches go "
                    "(default: $FLASHD_CACHE, else ~/.cache/flashd; the Makefile sets build/); kept under "
                    "$FLASHD_CACHE_MAX (default 20G, or none) by evicting the least recently used entries")
    ap.add_argument("--yosys", choices=YOSYS, default="pyosys", help="the Yosys that synthesizes: pyosys (PyPI's pyosys wheel, 0.70; "
                    "default), system (the yosys executable on the PATH, Debian's 0.23) or pyosys-booth "
                    "(0.70, multipliers Booth-encoded: synth -booth)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for group in GROUPS:
        group.register(sub)
    return ap, sub.choices


def main(argv=None):
    """Run one command; returns the exit code (2: bad input, named in the message; 1: a
    regression failed)."""
    try:
        args = _parser()[0].parse_args(argv)
    except SystemExit as e:                    # argparse has printed what was wrong
        return e.code
    if args.verbose:
        os.environ["FLASHD_VERBOSE"] = "1"
    if args.quiet:
        set_quiet()
    provenance.COMMAND = "flashd " + shlex.join(sys.argv[1:] if argv is None else argv)
    if getattr(args, "waves", False):
        os.environ["FLASHD_WAVES"] = "1"
    try:
        if args.cache_dir:
            set_cache_dir(args.cache_dir)
        size_bound()                           # a bad FLASHD_CACHE_MAX is refused before the work
        use_yosys(args.yosys)
        code = args.func(args)
        if args.cmd != "cache":
            removed = keep_bounded()
            if removed:
                say(f"cache {cache_dir()}: evicted {len(removed)} least recently used entries "
                    f"(FLASHD_CACHE_MAX={os.environ.get('FLASHD_CACHE_MAX', DEFAULT_MAX)})")
        return code
    except KeyboardInterrupt:
        print("flashd: interrupted", file=sys.stderr)
        return 130
    except RegressionFailed as e:
        print(f"flashd: regression FAILED\n{e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, RuntimeError) as e:     # RuntimeError: SynthError, a missing simulator
        print(f"flashd: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
