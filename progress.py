"""What flashd says while it works, in one place: messages (one line each, stdout) and
progress bars (tqdm, stderr, on a terminal only). Quiet (``flashd -q``, or ``FLASHD_QUIET=1``,
which worker processes inherit) silences both; results and errors are printed regardless."""

import contextlib
import multiprocessing
import os
import sys

from tqdm import tqdm

__all__ = ["say", "quiet", "set_quiet", "steps"]


def quiet():
    return os.environ.get("FLASHD_QUIET", "") not in ("", "0")


def set_quiet(flag=True):
    os.environ["FLASHD_QUIET"] = "1" if flag else "0"


def say(message):
    """One line of progress (a step, a unit, a search done); above a bar when one is drawn."""
    if not quiet():
        tqdm.write(str(message), file=sys.stdout)
        sys.stdout.flush()


@contextlib.contextmanager
def steps(total, what, unit="step"):
    """A progress bar of ``total`` ``unit``s (``bar.update()`` each; ``bar.set_postfix_str``
    for the best so far) with the elapsed and remaining time; drawn only on a terminal and by
    the main process (a sweep's workers report in lines: bars of several processes collide)."""
    off = quiet() or multiprocessing.parent_process() is not None
    with tqdm(total=total, desc=what, unit=unit, disable=True if off else None, leave=False,
              file=sys.stderr, dynamic_ncols=True) as bar:
        yield bar
