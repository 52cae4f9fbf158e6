"""Items pages and vector tiles: gridgis's OGC API against tipg on the same table, in the same run.

Data: the synthetic Dongcheng + Xicheng buildings (table ``building``) in the database gridgis
uses (the embedded cluster, or DATABASE_URL). Both servers are started here, each with
``--workers 2``, and serve the same rows: gridgis as collection ``buildings`` (authenticated
with the ``demo`` user's API key, which this script renews), tipg as ``public.bench_building``,
a view of the buildings LEFT JOINed to their membership (street and grid code live in
``building_membership``), configured to the same geometry column and the same properties.
Workloads, the same request list for both servers (fixed seed):

* items: GeoJSON pages (``limit=1000``) of random ~600 m x 600 m bboxes inside the two
  districts (lon 116.33-116.45, lat 39.86-39.97);
* tiles: random WebMercatorQuad MVT tiles at z15 and z16 whose centres lie in that extent.

Each (workload, server) pair gets a warm-up, then ``--requests`` requests from ``--concurrency``
clients. The load generator is wrk (``apt-get install wrk``; C, so it takes little CPU from
the servers on this 2-CPU machine; ``bench/wrk_load.py``) or, with ``--client python`` or
without wrk, an asyncio client in this script. wrk runs for ``--seconds`` per run (warm-up:
2 s), cycling through the request list; the asyncio client sends each request once. Reported,
never asserted: requests per second, p50/p99 latency and mean response size (wrk counts
headers too), and gridgis/tipg throughput per workload. The target is at least tipg's
throughput with p99 under 200 ms at 32 clients.

tipg runs from its own virtualenv so it cannot disturb ours:

    python3 -m venv /work/tipgenv && /work/tipgenv/bin/pip install "tipg==1.6.1" uvicorn

Run: .venv/bin/python bench/api.py [--requests N] [--concurrency C] [--tipg /work/tipgenv]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx2
import mapbox_vector_tile
import wrk_load  # bench/wrk_load.py, beside this script
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gis.cli_context import cli_engine
from gis.demo import demo_api_key
from gis.migrate import upgrade
from gis.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
EXTENT = (116.33, 39.86, 116.45, 39.97)  # lon/lat, Dongcheng + Xicheng
BOX_M = 600.0
ZOOMS = (15, 16)
OK = (200, 204)  # gridgis answers an empty tile with 204, tipg with an empty 200
# What tipg serves: the buildings with their membership, the join gridgis's collection makes.
VIEW = (
    "CREATE OR REPLACE VIEW bench_building AS SELECT b.*, m.street_code, m.grid_code"
    " FROM building b LEFT JOIN building_membership m ON m.id = b.id"
)
# The properties gridgis's ``buildings`` collection serves (gis/ogc/collections.py).
PROPERTIES = (
    "code",
    "name",
    "address",
    "floors",
    "dwellings",
    "households",
    "residents",
    "footprint_m2",
    "street_code",
    "grid_code",
    "synthetic",
)


@dataclass
class Server:
    """One API under test: how to build its URLs and what its process is."""

    name: str
    base: str
    items_path: str
    tile_path: str  # format string with z, x, y
    headers: dict[str, str]
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def items_url(self, bbox: tuple[float, float, float, float]) -> str:
        """Items page of one bbox, 1000 features at most."""
        return f"{self.items_path}?limit=1000&bbox={','.join(f'{v:.6f}' for v in bbox)}"

    def tile_url(self, z: int, x: int, y: int) -> str:
        """One WebMercatorQuad tile (each server has its own path order)."""
        return self.tile_path.format(z=z, x=x, y=y)


@dataclass
class Result:
    """Latencies, statuses and sizes of one timed run."""

    latencies: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    wall: float = 0.0

    @property
    def errors(self) -> int:
        """Failed requests and responses other than 200 (or 204, an empty tile)."""
        return sum(n for status, n in self.statuses.items() if status not in OK)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(
    cmd: list[str], env: dict[str, str], cwd: Path, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(server: Server) -> None:
    proc = server.process
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the session this script created for the server
            proc.wait()
    server.log.close()


def _wait_ready(server: Server, probe: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            response = httpx2.get(server.base + probe, headers=server.headers, timeout=5.0)
            if response.status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.5)
    server.log.flush()
    tail = Path(server.log.name).read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{server.name} did not answer {probe}:\n{tail}")


def _tile_xy(lon: float, lat: float, z: int) -> tuple[float, float]:
    n = 2.0**z
    x = (lon + 180.0) / 360.0 * n
    phi = math.radians(lat)
    y = (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0 * n
    return x, y


def _tiles_in_extent(z: int) -> list[tuple[int, int, int]]:
    """Tiles of zoom ``z`` whose centres lie inside EXTENT."""
    minx, miny, maxx, maxy = EXTENT
    x0, y1 = _tile_xy(minx, miny, z)
    x1, y0 = _tile_xy(maxx, maxy, z)
    return [
        (z, x, y)
        for x in range(math.floor(x0), math.floor(x1) + 1)
        for y in range(math.floor(y0), math.floor(y1) + 1)
        if x0 <= x + 0.5 <= x1 and y0 <= y + 0.5 <= y1
    ]


def _box_size() -> tuple[float, float]:
    """Degrees of longitude and latitude of BOX_M metres at the extent's middle latitude."""
    mid = math.radians((EXTENT[1] + EXTENT[3]) / 2)
    return BOX_M / (111_320.0 * math.cos(mid)), BOX_M / 110_574.0


def _bboxes(n: int, rng: random.Random) -> list[tuple[float, float, float, float]]:
    minx, miny, maxx, maxy = EXTENT
    dlon, dlat = _box_size()
    boxes = []
    for _ in range(n):
        x = rng.uniform(minx, maxx - dlon)
        y = rng.uniform(miny, maxy - dlat)
        boxes.append((x, y, x + dlon, y + dlat))
    return boxes


def _tiles(n: int, rng: random.Random) -> list[tuple[int, int, int]]:
    pools = {z: _tiles_in_extent(z) for z in ZOOMS}
    return [rng.choice(pools[rng.choice(ZOOMS)]) for _ in range(n)]


async def _load(server: Server, paths: list[str], concurrency: int) -> Result:
    result = Result()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(
        base_url=server.base, headers=server.headers, limits=limits, timeout=60.0
    ) as client:

        async def worker() -> None:
            while True:
                try:
                    path = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                start = time.perf_counter()
                try:
                    response = await client.get(path)
                    body = response.content
                    status: int | str = response.status_code
                except httpx2.HTTPError as exc:
                    body, status = b"", type(exc).__name__
                result.latencies.append(time.perf_counter() - start)
                result.statuses[status] += 1
                if status in OK:
                    result.sizes.append(len(body))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.wall = time.perf_counter() - start
    return result


def _timed_run(
    server: Server, paths: list[str], args: argparse.Namespace, scratch: Path
) -> wrk_load.WrkResult:
    """Warm up, then time one run of ``paths[args.warmup:]``."""
    if args.client == "python":
        _run_python(server, paths[: args.warmup], args.concurrency)
        return _run_python(server, paths[args.warmup :], args.concurrency)
    header = next(iter(server.headers.items()), None)
    # Warm up on requests of their own, as the asyncio client does, then time the rest.
    for some, seconds in ((paths[: args.warmup], 2.0), (paths[args.warmup :], args.seconds)):
        result = wrk_load.run(
            server.base,
            some,
            concurrency=args.concurrency,
            header=header,
            scratch=scratch,
            seconds=seconds,
        )
    return result


def _run_python(server: Server, paths: list[str], concurrency: int) -> wrk_load.WrkResult:
    result = asyncio.run(_load(server, paths, concurrency))
    ms = [1000 * v for v in result.latencies]
    if set(result.statuses) - set(OK):
        print(f"{server.name}: statuses {dict(result.statuses)}")
    return wrk_load.WrkResult(
        requests=len(result.latencies),
        seconds=result.wall,
        bytes_per_response=statistics.fmean(result.sizes) if result.sizes else 0.0,
        errors=result.errors,
        p50_ms=_percentile(ms, 0.50),
        p99_ms=_percentile(ms, 0.99),
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _check(
    servers: list[Server], bbox: tuple[float, float, float, float], tile: tuple[int, int, int]
) -> None:
    """Fetch one items page and one tile from each server and print what came back."""
    z, x, y = tile
    print(f"like-for-like check: bbox {bbox!r}, tile z{z}/x{x}/y{y}")
    for server in servers:
        items = httpx2.get(server.base + server.items_url(bbox), headers=server.headers, timeout=60)
        items.raise_for_status()
        features = items.json()["features"]
        keys = sorted(features[0]["properties"]) if features else []
        geometry = features[0]["geometry"]["type"] if features else None
        tile_response = httpx2.get(
            server.base + server.tile_url(z, x, y), headers=server.headers, timeout=60
        )
        tile_response.raise_for_status()
        layers = mapbox_vector_tile.decode(tile_response.content) if tile_response.content else {}
        tile_features = {name: len(layer["features"]) for name, layer in layers.items()}
        print(
            f"  {server.name:8} items: {len(features)} features, {len(items.content):,} bytes,"
            f" {geometry}, properties {keys}\n"
            f"  {'':8} tile: {len(tile_response.content):,} bytes, features {tile_features}"
        )


def main() -> None:
    """Start both servers, check them, time each workload on each and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1500, help="timed requests per run")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests first")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per wrk run")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timed runs per (workload, server), alternating servers; the median is reported",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes per server")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if wrk_load.available() else "python",
        help="load generator: wrk (C, apt-get install wrk; default when installed) or the"
        " asyncio client in this script",
    )
    parser.add_argument(
        "--tipg", type=Path, default=Path("/work/tipgenv"), help="virtualenv with tipg installed"
    )
    args = parser.parse_args()

    engine = cli_engine(get_settings())
    upgrade(engine)
    with engine.begin() as conn:  # tipg's table: buildings with their membership, as gridgis
        conn.execute(text(VIEW))
    key = demo_api_key(engine)
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    rng = random.Random(args.seed)
    n = args.warmup + args.requests
    boxes, tiles = _bboxes(n, rng), _tiles(n, rng)
    workloads: dict[str, Callable[[Server], list[str]]] = {
        "items (limit 1000, 600 m bbox)": lambda s: [s.items_url(b) for b in boxes],
        "tiles (z15 + z16 MVT)": lambda s: [s.tile_url(*t) for t in tiles],
    }

    scratch = Path(tempfile.mkdtemp(prefix="gridgis_bench_api_"))
    servers: list[Server] = []
    try:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        log = (scratch / "gridgis.log").open("wb")
        cmd = [str(ROOT / ".venv/bin/gridgis"), "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--workers", str(args.workers)]
        servers.append(
            Server(
                name="gridgis",
                base=f"http://127.0.0.1:{port}",
                items_path="/collections/buildings/items",
                tile_path="/collections/buildings/tiles/WebMercatorQuad/{z}/{y}/{x}",
                headers={"X-API-Key": key},
                process=_start(cmd, env, ROOT, log),
                log=log,
            )
        )
        port = _free_port()
        tipg_env = {
            **env,
            "DATABASE_URL": url,
            "TIPG_DB_SCHEMAS": '["public"]',
            "TIPG_DB_TABLES": '["public.bench_building"]',
            "TIPG_DB_FUNCTIONS": "[]",
            "TIPG_TABLE_CONFIG__public_bench_building__GEOMCOL": "geom",
            "TIPG_TABLE_CONFIG__public_bench_building__PK": "id",
            "TIPG_TABLE_CONFIG__public_bench_building__PROPERTIES": json.dumps(list(PROPERTIES)),
        }
        log = (scratch / "tipg.log").open("wb")
        cmd = [str(args.tipg / "bin/uvicorn"), "tipg.main:app", "--host", "127.0.0.1"]
        # "info": access logs, as `gridgis serve` writes them, so both pay for logging.
        cmd += ["--port", str(port), "--workers", str(args.workers), "--log-level", "info"]
        servers.append(
            Server(
                name="tipg",
                base=f"http://127.0.0.1:{port}",
                items_path="/collections/public.bench_building/items",
                tile_path="/collections/public.bench_building/tiles/WebMercatorQuad/{z}/{x}/{y}",
                headers={},
                # cwd: a scratch directory, so no stray .env configures tipg.
                process=_start(cmd, tipg_env, scratch, log),
                log=log,
            )
        )
        _wait_ready(servers[0], "/health")
        _wait_ready(servers[1], "/collections/public.bench_building")

        centre = ((EXTENT[0] + EXTENT[2]) / 2, (EXTENT[1] + EXTENT[3]) / 2)
        dlon, dlat = _box_size()
        mid_box = (centre[0], centre[1], centre[0] + dlon, centre[1] + dlat)
        tx, ty = _tile_xy(*centre, 16)
        _check(servers, mid_box, (16, int(tx), int(ty)))

        rows = []
        ratios = []
        for workload, urls in workloads.items():
            runs: dict[str, list[wrk_load.WrkResult]] = {s.name: [] for s in servers}
            for _ in range(args.rounds):  # alternate servers so drifts in the machine hit both
                for server in servers:
                    runs[server.name].append(_timed_run(server, urls(server), args, scratch))
            rates = {}
            for name, results in runs.items():
                rates[name] = statistics.median(r.rate for r in results)
                errors = sum(r.errors for r in results)
                rows.append(
                    f"| {workload} | {name} | {sum(r.requests for r in results)} | {errors} |"
                    f" {rates[name]:.1f} | {statistics.median(r.p50_ms for r in results):.1f} |"
                    f" {statistics.median(r.p99_ms for r in results):.1f} |"
                    f" {' / '.join(f'{r.p99_ms:.0f}' for r in results)} |"
                    f" {statistics.fmean(r.bytes_per_response for r in results):,.0f} |"
                )
            ratio = rates["gridgis"] / rates["tipg"]
            ratios.append(f"{workload}: gridgis/tipg throughput ratio = {ratio:.2f}×")

        per_run = (
            f"{args.seconds:g} s per run after 2 s warm-up"
            if args.client == "wrk"
            else f"{args.requests} requests per run after {args.warmup} warm-up"
        )
        print(
            f"\n{per_run}, {args.concurrency} concurrent clients ({args.client}),"
            f" {args.workers} workers per server, {os.cpu_count()} CPUs\n"
        )
        print(
            f"Per (workload, server): {args.rounds} rounds; req/s, p50 and p99 are medians over"
            " the rounds, p99 of each round follows.\n"
        )
        print(
            "| workload | server | requests | errors | req/s | p50 ms | p99 ms | p99 per round |"
            " bytes/response |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---|---:|")
        print("\n".join(rows))
        print()
        print("\n".join(ratios))
    finally:
        for server in servers:
            _stop(server)
        with engine.begin() as conn:  # the view would slow a full membership refresh down
            conn.execute(text("DROP VIEW IF EXISTS bench_building"))
        engine.dispose()


if __name__ == "__main__":
    main()
