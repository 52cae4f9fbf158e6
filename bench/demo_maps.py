"""HTML size and time to first render of the maps the demo wrote, in headless Chromium, offline.

Run after ``gridgis demo`` (full Dongcheng + Xicheng data):

    .venv/bin/python bench/demo_maps.py [--out out]

Each ``out/*.html`` is served from ``out/`` on 127.0.0.1 (with the vendored Leaflet assets the
demo wrote beside it) and opened in a browser that cannot reach any other host. "render" is the
time from navigation until the drawn layers stop changing (tests/maps/browser.py). A screenshot of
each map goes to ``out/screenshots/``. Console errors and off-host requests are printed, so a map
that draws nothing or needs the network shows up here, not only in the tests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.maps.browser import Browser, serve

MAPS = ("grid", "incidents", "coverage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"), help="the demo's output folder")
    parser.add_argument("--timeout-s", type=float, default=120.0)
    args = parser.parse_args()
    shots = args.out / "screenshots"
    print(f"{'map':10} {'HTML KiB':>9} {'render s':>9} {'paths':>7} {'markers':>8} {'clusters':>9}")
    with Browser() as browser, serve(args.out, {"/favicon.ico": lambda: b""}) as base:
        for name in MAPS:
            page = args.out / f"{name}.html"
            if not page.exists():
                print(f"{name:10} missing: run gridgis demo first")
                continue
            render_s = browser.open(base + page.name, timeout_s=args.timeout_s)
            report = browser.report()
            browser.screenshot(shots / f"{name}.png")
            probe = report.probe
            print(
                f"{name:10} {page.stat().st_size / 1024:9,.0f} {render_s:9.2f} "
                f"{probe['svgPaths']:7,} {probe['markerIcons']:8,} {probe['clusterIcons']:9,}"
            )
            off_host = [u for u in report.requests if urlparse(u).hostname not in {"127.0.0.1"}]
            for problem in [*report.errors, *(f"off-host request {u}" for u in off_host)]:
                print(f"  {name}: {problem[:200]}")
    print(f"screenshots in {shots}")


if __name__ == "__main__":
    main()
