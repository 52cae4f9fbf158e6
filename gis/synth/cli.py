"""``gridgis synth …``: each synthetic layer module adds its own subcommand."""

from __future__ import annotations

import importlib
from typing import Any

# Modules with ``add_command(subparsers)``; each adds one ``gridgis synth <what>`` command.
SYNTH_MODULES: tuple[str, ...] = (
    "gis.synth.incidents",
    "gis.synth.population",
    "gis.synth.facilities",
    "gis.synth.buildings",
    "gis.synth.workers",
)


def register(subparsers: Any) -> None:
    """Add ``synth`` and the subcommands of every module in `SYNTH_MODULES`."""
    synth = subparsers.add_parser(
        "synth",
        help="generate synthetic buildings, residents, facilities and incidents (flagged)",
    )
    sub = synth.add_subparsers(dest="synth_command", required=True, metavar="WHAT")
    for name in SYNTH_MODULES:
        importlib.import_module(name).add_command(sub)
