"""Run a Yosys script with PyPI's ``pyosys`` (a native libyosys and its own ``yosys-abc``):
``python -m flashd.synth.yosys_run run.ys``, in the work directory, one command per line. The
wheel has no ``yosys`` executable; a process per run keeps Yosys's global state out of flashd's
own process (runs go in parallel threads) and a crash out of the sweep."""

import sys
from pathlib import Path

from pyosys import libyosys as ys


def main(argv):
    if len(argv) != 1:
        print("usage: python -m flashd.synth.yosys_run SCRIPT", file=sys.stderr)
        return 2
    design = ys.Design()
    for line in Path(argv[0]).read_text().splitlines():
        if line.strip():
            ys.run_pass(line, design)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
