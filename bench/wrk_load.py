"""Drive a fixed list of GET requests through ``wrk`` (Debian ``wrk``) and read back its numbers.

A Python asyncio client on this 2-CPU machine spends a quarter of a core parsing responses,
CPU that the servers under test then lack, and it measures its own scheduling delays as
latency. wrk is C: its cost is small and equal for every server. wrk runs for a fixed time
(its threads cannot end a run early), so the Lua driver below has each of the n threads cycle
through every n-th path of the list from the start: every server gets the same random
sequence, the faster one simply gets further through it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = r"""
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  nthreads = tonumber(args[2])
  if args[3] ~= "" then wrk.headers[args[3]] = args[4] end
  nxt = tid + 1
end

function request()
  local path = paths[nxt]
  nxt = nxt + nthreads
  if nxt > #paths then nxt = tid + 1 end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "status_errors": %d,' ..
    ' "socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """What wrk measured over one list of requests."""

    requests: int
    seconds: float
    bytes_per_response: float  # headers included
    errors: int  # non-2xx/3xx statuses and socket errors
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds


def available() -> bool:
    """True when the ``wrk`` binary is on PATH."""
    return shutil.which("wrk") is not None


def run(
    base: str,
    paths: list[str],
    *,
    concurrency: int,
    header: tuple[str, str] | None,
    scratch: Path,
    seconds: float,
    threads: int = 2,
) -> WrkResult:
    """Cycle through ``paths`` for ``seconds`` over ``concurrency`` connections."""
    script = scratch / "driver.lua"
    script.write_text(LUA)
    listing = scratch / "paths.txt"
    listing.write_text("\n".join(paths) + "\n")
    name, value = header or ("", "")
    cmd = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds:g}s"]
    cmd += ["--timeout", "60s"]
    cmd += ["-s", str(script), base, "--", str(listing), str(threads), name, value]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    numbers = json.loads(out.strip().splitlines()[-1])
    requests = int(numbers["requests"])
    return WrkResult(
        requests=requests,
        seconds=numbers["duration_us"] / 1e6,
        bytes_per_response=numbers["bytes"] / max(requests, 1),
        errors=int(numbers["status_errors"]) + int(numbers["socket_errors"]),
        p50_ms=numbers["p50_us"] / 1000,
        p99_ms=numbers["p99_us"] / 1000,
    )
