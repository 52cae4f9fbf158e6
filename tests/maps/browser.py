"""Headless Chromium for the map tests: a static server on 127.0.0.1 and the DevTools protocol.

The browser is driven over ``--remote-debugging-pipe`` (NUL-separated JSON on file descriptors
3 and 4), so no websocket library is needed. It cannot reach the network: every host name but
127.0.0.1 resolves to nothing and every proxied request goes to a closed port; the tests also
assert that every request the page made went to 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("GRIDGIS_CHROMIUM", "/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
    "--window-size=1200,800",
    "--remote-debugging-pipe",
)

# What the page drew, read from the DOM and from Leaflet (window.gridgis is set by maps.elements).
PROBE_JS = """(() => {
  const g = window.gridgis || {layers: {}};
  const count = (sel) => document.querySelectorAll(sel).length;
  const layerCount = (layer) => layer && layer.getLayers ? layer.getLayers().length : null;
  const layers = {};
  for (const [key, layer] of Object.entries(g.layers)) { layers[key] = layerCount(layer); }
  return {
    ready: document.readyState === "complete" && !!g.map,
    svgPaths: count("svg path.leaflet-interactive"),
    markerIcons: count(".leaflet-marker-icon"),
    clusterIcons: count(".marker-cluster"),
    overdueIcons: count(".gg-inc.gg-overdue") + count(".marker-cluster.gg-has-overdue"),
    labels: count(".gg-label"),
    legends: count(".gg-legend"),
    heatCanvases: count("canvas.leaflet-heatmap-layer"),
    layerControlInputs: count(".leaflet-control-layers input"),
    zoom: g.map ? g.map.getZoom() : null,
    layers: layers,
  };
})()"""


@dataclass
class PageReport:
    """The probe's result plus the console errors and the URLs the page requested."""

    probe: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


@contextmanager
def serve(directory: Path, routes: dict[str, Callable[[], bytes]] | None = None) -> Iterator[str]:
    """Serve `directory` (plus dynamic `routes`: path -> body) on 127.0.0.1; yield the base URL."""
    dynamic = routes or {}

    class Handler(_QuietHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in dynamic:
                body = dynamic[path]()
                self.send_response(200)
                self.send_header("Content-Type", "application/geo+json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class Browser:
    """One headless Chromium process with one page, driven over the DevTools pipe."""

    def __init__(self) -> None:
        if not Path(CHROMIUM).exists():
            raise FileNotFoundError(f"no Chromium at {CHROMIUM} (set GRIDGIS_CHROMIUM)")
        self._profile = tempfile.mkdtemp(prefix="gridgis-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4.
        self._proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=partial(_map_fds, to_browser_r, from_browser_w),  # noqa: PLW1509
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._replies: dict[int, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                with self._cond:
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._cond.notify_all()

    def call(
        self, method: str, *, session: bool = False, timeout_s: float = 30, **params: Any
    ) -> Any:
        """Send a DevTools command and return its result."""
        with self._lock:
            self._next_id += 1
            message_id = self._next_id
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while message_id not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{method}: no reply in {timeout_s} s")
                self._cond.wait(left)
            reply = self._replies.pop(message_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """Evaluate `expression` in the page and return its JSON value."""
        result = self.call(
            "Runtime.evaluate", session=True, expression=expression, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, *, settle_s: float = 0.6, timeout_s: float = 20) -> float:
        """Navigate to `url`; wait until the probe is ready and stable. Return seconds taken."""
        self.events.clear()
        start = time.monotonic()
        self.call("Page.navigate", session=True, url=url)
        last: Any = None
        stable_since = None
        while time.monotonic() - start < timeout_s:
            probe = self.evaluate(PROBE_JS)
            if probe and probe["ready"] and probe == last:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= settle_s:
                    return stable_since - start
            else:
                stable_since = None
            last = probe
            time.sleep(0.1)
        raise TimeoutError(f"{url} did not settle in {timeout_s} s; last probe {last}")

    def wait_for(self, expression: str, *, timeout_s: float = 10) -> Any:
        """Poll `expression` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{expression!r} stayed falsy for {timeout_s} s")

    def report(self) -> PageReport:
        """Return the probe, the console errors and the requested URLs since the last `open`."""
        errors, requests = [], []
        for event in list(self.events):
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in {
                "error",
                "warning",
            }:
                errors.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")
            elif method == "Network.requestWillBeSent":
                requests.append(params["request"]["url"])
        return PageReport(self.evaluate(PROBE_JS), errors, requests)

    def screenshot(self, path: Path) -> None:
        """Save a PNG of the page."""
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Stop this browser and delete its profile."""
        with suppress(TimeoutError, RuntimeError, OSError):
            self.call("Browser.close", timeout_s=5)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for fd in (self._to_browser, self._from_browser):
            with suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _map_fds(read_end: int, write_end: int) -> None:
    """In the child: put the command pipe on fd 3 and the reply pipe on fd 4."""
    # Move both ends out of the way first: either may already sit on 3 or 4.
    read_high, write_high = os.dup(read_end), os.dup(write_end)
    os.dup2(read_high, 3)
    os.dup2(write_high, 4)
