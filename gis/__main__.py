"""Run the CLI with ``python -m gis``."""

from gis.cli import main

raise SystemExit(main())
