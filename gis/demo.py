"""The demo: the whole story on one PostGIS, from real boundaries to three maps and a summary.

Real Dongcheng + Xicheng boundaries and OSM street network (shipped in ``data/``), then the
synthetic buildings, residents, facilities, grid workers and incidents (flagged synthetic),
balanced grids for every street (activated), a coverage run with suggested sites, and the
grid, incident and coverage maps written to ``out/``. Every step replaces what an earlier run
made (fixed seeds), so running the demo twice gives the same data and never duplicates it.

Each step commits on its own: a failure names the step and keeps what was done before it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from gis.auth import Principal
from gis.divisions import DivisionLevel
from gis.errors import GisError
from gis.gridding.partition import DEFAULT_BAND
from gis.settings import Settings

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEMO_DISTRICTS = {"110101": "dongcheng", "110102": "xicheng"}
NETWORK_FILE = DATA_DIR / "network" / "beijing_inner_drive_osm2024.gpkg"
NETWORK_NAME = "dongcheng-xicheng"
DEMO_ACTOR = "demo"


@dataclass(frozen=True)
class DemoOptions:
    """What the demo builds; the defaults are the full Dongcheng + Xicheng story."""

    out_dir: Path = Path("out")
    seed: int = 2024
    incidents: int = 3000
    sites_per_category: int = 3
    limit_streets: int | None = None  # the first N streets only (a quick look, the tests)


@dataclass
class DemoReport:
    """What the demo made, for the closing summary."""

    streets: int = 0
    buildings: int = 0
    households: int = 0
    people: int = 0
    facilities: int = 0
    cells: int = 0
    households_per_cell: tuple[int, int, int] = (0, 0, 0)  # min, median, max (basic cells)
    dedicated_cells: int = 0
    cells_in_band: int = 0
    basic_cells: int = 0
    not_activated: dict[str, str] = field(default_factory=dict)
    open_incidents: int = 0
    overdue_incidents: int = 0
    coverage_run: int | None = None
    coverage: dict[str, Any] = field(default_factory=dict)
    maps: dict[str, tuple[Path, float, float]] = field(default_factory=dict)  # KiB, seconds
    seconds: dict[str, float] = field(default_factory=dict)


class Demo:
    """Runs the steps in order on ``engine``, printing progress to ``console``."""

    def __init__(
        self, engine: Engine, settings: Settings, options: DemoOptions, console: Console
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.options = options
        self.console = console
        self.sites: list[Any] = []  # greedy siting reports, drawn on the coverage map
        self.report = DemoReport()
        self.streets: list[str] = []
        self.principal = Principal.system(DEMO_ACTOR)

    # ------------------------------------------------------------------------- plumbing
    @contextmanager
    def step(self, title: str) -> Iterator[Session]:
        """One committed step, timed; a failure says which step broke."""
        started = time.perf_counter()
        self.console.print(f"[bold cyan]▸[/bold cyan] {title}")
        try:
            with Session(self.engine) as session, session.begin():
                yield session
        except GisError as exc:
            raise GisError(f"demo step {title!r} failed: {exc}") from exc
        elapsed = time.perf_counter() - started
        self.report.seconds[title] = round(elapsed, 1)

    def bar(self, total: int, what: str) -> Progress:
        """Return a transient progress bar for a per-street loop."""
        columns = (TextColumn("  {task.description}"), BarColumn(), TimeElapsedColumn())
        progress = Progress(*columns, console=self.console, transient=True)
        progress.add_task(what, total=total)
        return progress

    def per_street(
        self, session: Session, what: str, work: Callable[[Session, str], Any]
    ) -> list[Any]:
        """Run ``work(session, street)`` for every demo street under one progress bar."""
        out = []
        with self.bar(len(self.streets), what) as progress:
            task = progress.task_ids[0]
            for code in self.streets:
                progress.update(task, description=f"{what} {code}")
                out.append(work(session, code))
                progress.advance(task)
        return out

    def say(self, message: str) -> None:
        """Print an indented result line under the current step."""
        self.console.print(f"  {message}")

    # ---------------------------------------------------------------------------- steps
    def run(self) -> DemoReport:
        """Run every step; return the report."""
        self.boundaries()
        self.network()
        self.buildings()
        self.population()
        self.facilities()
        self.grids()
        self.workers()
        self.incidents()
        self.coverage()
        self.maps()
        self.summarise()
        return self.report

    def boundaries(self) -> None:
        """Import the real district outlines and street boundaries (update by code)."""
        from gis.boundaries import BoundaryImportOptions, import_boundaries

        root = DATA_DIR / "boundaries" / "beijing"
        files = [
            (root / "districts" / f"{name}-outline.geojson", DivisionLevel.DISTRICT)
            for name in DEMO_DISTRICTS.values()
        ] + [
            (root / "subdistricts" / f"{name}-all.geojson", DivisionLevel.STREET)
            for name in DEMO_DISTRICTS.values()
        ]
        with self.step("real boundaries of Dongcheng and Xicheng") as session:
            for path, level in files:
                report = import_boundaries(session, path, BoundaryImportOptions(level=level))
                self.say(
                    f"{path.name}: {report.feature_count} {level.value}(s), "
                    f"{report.inserted} new, {report.updated} updated"
                )
            from gis.synth.buildings import street_codes_of

            codes = [
                c
                for district in DEMO_DISTRICTS
                for c in street_codes_of(session, district=district)
            ]
        self.streets = codes[: self.options.limit_streets] if self.options.limit_streets else codes
        self.report.streets = len(self.streets)

    def network(self) -> None:
        """Import the real OSM street network once (re-imported only when missing)."""
        from gis.network.service import import_network, list_networks

        with self.step("real OSM street network (© OpenStreetMap contributors, ODbL)") as session:
            stored = {n["name"]: n for n in list_networks(session)}
            if NETWORK_NAME in stored:
                n = stored[NETWORK_NAME]
                self.say(f"{NETWORK_NAME}: already stored ({n['edge_count']:,} edges)")
                return
            result = import_network(session, NETWORK_FILE, name=NETWORK_NAME)
            self.say(
                f"{result.name}: {result.node_count:,} nodes, {result.edge_count:,} edges, "
                f"{result.length_km:,.0f} km"
            )

    def buildings(self) -> None:
        """Generate synthetic buildings and dwellings inside the real road blocks."""
        from gis.synth.buildings import write_street
        from gis.synth.census import census_scales

        seed = self.options.seed
        with self.step("synthetic buildings and dwellings (census residents)") as session:
            scales = census_scales(session, self.streets, seed=seed)
            counts = self.per_street(
                session,
                "buildings",
                lambda s, c: write_street(s, c, seed=seed, scale=scales[c]),
            )
        self.report.buildings = sum(c["buildings"] for c in counts)
        self.report.households = sum(c["households"] for c in counts)
        self.say(
            f"{self.report.buildings:,} buildings, {sum(c['dwellings'] for c in counts):,} "
            f"dwellings, {self.report.households:,} households"
        )

    def population(self) -> None:
        """Generate synthetic households and residents (ID numbers, phones encrypted)."""
        from gis.layers.keys import ResidentCrypto
        from gis.synth.population import write_street_population

        crypto = ResidentCrypto.from_settings(self.settings)
        with self.step("synthetic residents (ID numbers and phones encrypted)") as session:
            results = self.per_street(
                session,
                "residents",
                lambda s, c: write_street_population(s, c, crypto=crypto, seed=self.options.seed),
            )
        self.report.people = sum(r.people for r in results)
        self.say(
            f"{self.report.people:,} residents in {sum(r.households for r in results):,} households"
        )

    def facilities(self) -> None:
        """Generate synthetic facilities of every life-circle checklist category."""
        from gis.synth.facilities import write_facilities

        with self.step("synthetic life-circle facilities") as session:
            counts = write_facilities(session, self.streets, seed=self.options.seed)
        self.report.facilities = sum(sum(c.values()) for c in counts.values())
        self.say(f"{self.report.facilities:,} facilities")

    def grids(self) -> None:
        """Generate a household-balanced plan per street; validate and activate it."""
        from gis.gridding.generate import GridOptions, generate_plan
        from gis.gridding.service import activate

        options = GridOptions(seed=self.options.seed)

        def grid(session: Session, code: str) -> None:
            result = generate_plan(session, code, options=options, actor=DEMO_ACTOR, reason="demo")
            try:
                with session.begin_nested():
                    activate(session, result.plan.id, principal=self.principal)
            except GisError as exc:
                self.report.not_activated[code] = str(exc)

        with self.step("household-balanced grids, validated and activated") as session:
            self.per_street(session, "gridding", grid)
        for code, reason in self.report.not_activated.items():
            self.say(f"[yellow]{code} kept as a draft[/yellow]: {reason}")

    def workers(self) -> None:
        """Give each active cell a synthetic grid worker scoped to it."""
        from gis.synth.workers import synth_grid_workers

        with self.step("synthetic grid workers") as session:
            assigned = synth_grid_workers(session, self.streets)
        self.say(f"{assigned:,} cells got a worker")

    def incidents(self) -> None:
        """Generate synthetic incidents over the last months with workflow histories."""
        from gis.synth.incidents import (
            SynthIncidentOptions,
            clear_synthetic_incidents,
            synth_incidents,
        )

        active = [c for c in self.streets if c not in self.report.not_activated]
        with self.step("synthetic incidents with workflow histories") as session:
            clear_synthetic_incidents(session, tuple(self.streets))
            report = synth_incidents(
                session,
                SynthIncidentOptions(street_codes=tuple(active), count=self.options.incidents),
            )
        self.say(f"{report.incidents:,} incidents ({report.duplicates} duplicates linked)")

    def coverage(self) -> None:
        """Run coverage over the walking network; suggest sites per category."""
        from gis.coverage.context import CoverageParams
        from gis.coverage.service import run_coverage
        from gis.coverage.sites import site_facilities

        with self.step("15-minute coverage over the walking network") as session:
            params = CoverageParams(network=NETWORK_NAME, street_codes=tuple(self.streets))
            run = run_coverage(session, params, created_by=DEMO_ACTOR)
            self.report.coverage_run = run.id
            self.report.coverage = dict(run.summary)
            categories = list(run.summary["categories"])
        with self.step(
            f"greedy siting: {self.options.sites_per_category} sites per category"
        ) as session:
            self.sites = [
                site_facilities(
                    session,
                    self.report.coverage_run,
                    category=category,
                    k=self.options.sites_per_category,
                )
                for category in categories
            ]

    def maps(self) -> None:
        """Write the grid, incident and coverage maps with their assets to ``out/``."""
        from gis.mapdata import coverage_map_data, grid_map_data, incident_map_data
        from maps.assets import write_map
        from maps.pages import coverage_page, grid_page, incident_page

        url, credit = self.settings.map_tiles_url, self.settings.map_tiles_attribution
        who, run_id = self.principal, self.report.coverage_run
        builders: dict[str, Callable[[Session], Any]] = {
            "grid": lambda s: grid_page(
                grid_map_data(s, who), tiles_url=url, tiles_attribution=credit
            ),
            "incidents": lambda s: incident_page(
                incident_map_data(s, who), tiles_url=url, tiles_attribution=credit
            ),
            "coverage": lambda s: coverage_page(
                coverage_map_data(s, who, run_id=run_id),
                sites=self.sites,
                tiles_url=url,
                tiles_attribution=credit,
            ),
        }
        self.options.out_dir.mkdir(parents=True, exist_ok=True)
        with self.step(f"maps in {self.options.out_dir}/") as session:
            for name, build in builders.items():
                started = time.perf_counter()
                path = write_map(build(session), self.options.out_dir / f"{name}.html")
                elapsed = time.perf_counter() - started
                size_kib = path.stat().st_size / 1024
                self.report.maps[name] = (path, size_kib, elapsed)
                self.say(f"{path}: {size_kib:,.0f} KiB, built in {elapsed:.1f} s")

    def summarise(self) -> None:
        """Fill the report's grid and incident figures from the database."""
        from gis.gridding.models import GridCell, GridPlan
        from gis.layers.incidents import Incident
        from gis.layers.workflow import CLOCK_RUNNING_STATES, OPEN_STATES

        with Session(self.engine) as session:
            active = (
                select(GridCell)
                .join(GridPlan, GridPlan.id == GridCell.plan_id)
                .where(GridPlan.status == "active", GridPlan.street_code.in_(self.streets))
                .subquery()
            )
            basic = active.c.kind != "dedicated"
            row = session.execute(
                select(
                    func.count(),
                    func.count().filter(~basic),
                    func.min(active.c.households).filter(basic),
                    func.percentile_disc(0.5).within_group(active.c.households).filter(basic),
                    func.max(active.c.households).filter(basic),
                    func.count().filter(basic),
                )
            ).one()
            self.report.cells, self.report.dedicated_cells = int(row[0]), int(row[1])
            self.report.households_per_cell = (int(row[2] or 0), int(row[3] or 0), int(row[4] or 0))
            self.report.basic_cells = int(row[5])
            low, high = DEFAULT_BAND
            self.report.cells_in_band = int(
                session.execute(
                    select(func.count())
                    .select_from(active)
                    .where(basic, active.c.households.between(low, high))
                ).scalar_one()
            )
            open_states = [s.value for s in OPEN_STATES]
            scope = Incident.street_code.in_(self.streets)
            counted = select(func.count()).select_from(Incident).join(Incident.membership)
            self.report.open_incidents = session.execute(
                counted.where(scope, Incident.status.in_(open_states))
            ).scalar_one()
            self.report.overdue_incidents = session.execute(
                counted.where(
                    scope,  # paused (postponed, suspended) cases are not overdue
                    Incident.status.in_([s.value for s in CLOCK_RUNNING_STATES]),
                    Incident.deadline_at < text("now()"),
                )
            ).scalar_one()


def demo_api_key(engine: Engine) -> str:
    """Return a fresh API key of the ``demo`` user (an administrator without unmasking).

    The served maps and the API need a credential; the demo prints links carrying this key.
    Each run replaces the previous key.
    """
    from gis.auth import Role, create_user, issue_api_key
    from gis.users import AppUser

    with Session(engine) as session, session.begin():
        user = session.execute(
            select(AppUser).where(AppUser.username == DEMO_ACTOR)
        ).scalar_one_or_none()
        if user is None:
            user = create_user(
                session, username=DEMO_ACTOR, role=Role.ADMIN, display_name="gridgis demo"
            )
        return issue_api_key(session, user)


def print_summary(report: DemoReport, console: Console) -> None:
    """Print the demo's closing summary: streets, grids, coverage, incidents, maps."""
    low, high = DEFAULT_BAND
    hh_min, hh_median, hh_max = report.households_per_cell
    console.print()
    console.print("[bold]Summary[/bold] (synthetic buildings, residents, facilities, incidents)")
    console.print(
        f"  streets {report.streets}; buildings {report.buildings:,}; residents "
        f"{report.people:,}; facilities {report.facilities:,}"
    )
    console.print(
        f"  grids {report.cells:,} ({report.dedicated_cells} dedicated); households per basic "
        f"cell min {hh_min}, median {hh_median}, max {hh_max}; in the {low}-{high} band "
        f"{report.cells_in_band}/{report.basic_cells}"
    )
    if report.not_activated:
        console.print(f"  [yellow]{len(report.not_activated)} street(s) left as drafts[/yellow]")
    console.print(
        f"  incidents open {report.open_incidents:,}, of which overdue {report.overdue_incidents:,}"
    )
    summary = report.coverage
    if summary:
        table = Table(
            "category", "circle", "residents within (walk)", "share walk", "share straight line"
        )
        for name, c in summary["categories"].items():
            table.add_row(
                name,
                f"{c['circle_m']:.0f} m",
                f"{c['residents_within']:,.0f}",
                _pct(c["share"]),
                _pct(c["share_euclid"]),
            )
        console.print(table)
        verdict = "meets" if summary["meets_target"] else "misses"
        console.print(
            f"  residents with every category within its circle: {_pct(summary['share_all'])} "
            f"({verdict} the {100 * summary['target_share']:.0f} % national target); "
            f"coverage run {report.coverage_run}"
        )
    for name, (path, size_kib, seconds) in report.maps.items():
        console.print(f"  map {name}: {path.resolve()} ({size_kib:,.0f} KiB, {seconds:.1f} s)")


def _pct(share: float | None) -> str:
    return "-" if share is None or math.isnan(share) else f"{100 * share:.1f} %"
