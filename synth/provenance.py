"""What a flow's JSON records about its own making: the command, the date, the tools
(``flashd tables`` prints it beside each table in the docs)."""

import datetime
from importlib.metadata import PackageNotFoundError, version

from .flow import tool_versions
from .sta import sta_version

__all__ = ["COMMAND", "provenance"]

COMMAND = None          # "flashd <arguments>" when the command line runs a flow (set by it); None from Python


def provenance(synthesis=True, timed=False):
    """``{command, date, tools}``: flashd's version, Yosys's with ``synthesis``, OpenSTA's with ``timed``."""
    try:
        tools = {"flashd": version("flashd")}
    except PackageNotFoundError:          # a source tree that was never installed
        tools = {"flashd": "unknown"}
    if synthesis:
        tools["yosys"] = tool_versions()
    if timed:
        tools["opensta"] = sta_version()
    return {"command": COMMAND, "date": datetime.date.today().isoformat(), "tools": tools}
