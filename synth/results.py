"""Result tables in the docs are written from the JSON the flows produce, never by hand. A page
holds a block

    <!-- flashd-table: ppa/compare_clock.json -->
    (the table, and the command that produced the JSON with its date and tools)
    <!-- /flashd-table -->

naming a JSON file relative to the page; ``flashd tables PAGE.md ...`` rewrites each block
from its file, and ``--check`` only names the stale ones (``make test`` runs it on docs/), so
a figure and the command that measured it cannot drift apart. The flows record that command
in their JSON (:mod:`flashd.synth.provenance`)."""

import json
import re
from pathlib import Path

from flashd.verif.accuracy import accuracy_table
from flashd.verif.characterize import table as characterize_table

from .power import power_text
from .sweep import clock_table, ladder_table, table, tradeoff_table

__all__ = ["RENDERERS", "render", "update_page"]

BLOCK = re.compile(r"(<!-- flashd-table: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- /flashd-table -->)", re.S)


RENDERERS = {"accuracy": accuracy_table,               # a JSON's "kind" -> its table
             "compare": lambda data: table(data["rows"]),
             "compare_clock": lambda data: clock_table(data["rows"]),
             "tradeoff": tradeoff_table,
             "ladder": ladder_table,
             "power": power_text,
             "characterize": lambda data: characterize_table(data["rows"]) + (
                 f"\n\nArea and delay: each unit alone, combinational, {data['library']}, ABC mapped for a "
                 f"{data['clock_ns']:g} ns target, OpenSTA input to output." if data.get("library") else "")}


def render(path):
    """The markdown a flow's JSON file gives: its table, then where it came from."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a flow's JSON ({e})") from None
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in RENDERERS:
        raise ValueError(f"{path}: kind {kind!r} has no table (allowed: {', '.join(RENDERERS)})")
    made = data.get("provenance") or {}
    command = f"`{made['command']}`" if made.get("command") else "the Python API (no command recorded)"
    tools = ", ".join(f"{k} {v}" for k, v in (made.get("tools") or {}).items()) or "tools not recorded"
    seconds = f", {data['seconds'] / 60:.1f} minutes wall" if isinstance(data.get("seconds"), int | float) else ""
    return (f"{RENDERERS[kind](data).rstrip()}\n\n"
            f"*From `{path.name}`, written by {command} on {made.get('date', 'an unrecorded date')}{seconds} "
            f"({tools}); `flashd tables` rewrote this table from it.*\n")


def update_page(page, check=False):
    """Rewrite the page's blocks from their JSON (or, with ``check``, leave it); the paths of
    the blocks that were (or would be) changed."""
    page = Path(page)
    text = page.read_text()
    stale = []

    def fill(m):
        body = render(page.parent / m["path"])
        if body != m["body"]:
            stale.append(m["path"])
        return m[1] + body + m[4]
    new = BLOCK.sub(fill, text)
    if stale and not check:
        page.write_text(new)
    return stale
