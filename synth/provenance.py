"""What a flow's JSON records about its own making: the command, the date, the tools
(``flashd tables`` prints it beside each table in the docs)."""

import datetime

from .flow import tool_versions
from .sta import sta_version

__all__ = ["COMMAND", "provenance"]

COMMAND = None          # "flashd <arguments>" when the command line runs a flow (set by it); None from Python


def provenance(timed=False):
    """``{command, date, tools}``; ``timed``: OpenSTA's version too."""
    tools = {"yosys": tool_versions()}
    if timed:
        tools["opensta"] = sta_version()
    return {"command": COMMAND, "date": datetime.date.today().isoformat(), "tools": tools}
