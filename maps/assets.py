"""Leaflet and plugin assets: installed from the npm registry, served by the app, linked offline.

Folium and its plugins link their JavaScript and CSS from public CDNs. A command centre on a
closed network cannot reach them, so the files are installed at setup from the npm registry
(``maps/package.json`` and its lock), copied into ``maps/static/vendor/`` and linked from there:

- ``python -m maps.assets install`` runs ``npm ci`` and copies the files (idempotent);
- `offline_html` renders a map with every script and stylesheet pointing at a local base URL
  (``/static/vendor/`` when the API serves the map, ``vendor/`` next to an exported file);
- `write_map` writes the HTML and copies the vendor tree next to it, so the file opens offline.

Folium registers each link in the figure header under a name (``leaflet``, ``leaflet_css``,
``Leaflet_Realtime_js``...); `LINKS` maps those names to the local copies. A link whose name is
unknown is an error, not a silent CDN fallback.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final, cast

import folium
from branca.element import CssLink, Element, Figure, JavascriptLink

from gis.errors import MapAssetsError

PACKAGE_DIR: Final = Path(__file__).resolve().parent
STATIC_DIR: Final = PACKAGE_DIR / "static"
VENDOR_DIR: Final = STATIC_DIR / "vendor"
NODE_MODULES: Final = PACKAGE_DIR / "node_modules"
LOCK_FILE: Final = PACKAGE_DIR / "package-lock.json"
STAMP_NAME: Final = ".gridgis-assets"
DEFAULT_ASSET_BASE: Final = "/static/vendor/"

_FOLIUM_TEMPLATES: Final = Path(folium.__file__).resolve().parent / "templates"

# (source, destination in the vendor tree). A source is relative to node_modules, or to folium's
# own templates when it starts with "folium:" (folium ships its patched Leaflet.heat there).
# Directories are copied whole: stylesheets find their images and fonts by relative URL.
COPIES: Final[tuple[tuple[str, str], ...]] = (
    ("leaflet/dist/leaflet.js", "leaflet/leaflet.js"),
    ("leaflet/dist/leaflet.css", "leaflet/leaflet.css"),
    ("leaflet/dist/images", "leaflet/images"),
    ("jquery/dist/jquery.min.js", "jquery/jquery.min.js"),
    ("bootstrap/dist/js/bootstrap.bundle.min.js", "bootstrap/js/bootstrap.bundle.min.js"),
    ("bootstrap/dist/css/bootstrap.min.css", "bootstrap/css/bootstrap.min.css"),
    ("leaflet.awesome-markers/dist/leaflet.awesome-markers.js", "awesome-markers/am.js"),
    ("leaflet.awesome-markers/dist/leaflet.awesome-markers.css", "awesome-markers/am.css"),
    ("leaflet.awesome-markers/dist/images", "awesome-markers/images"),
    ("@fortawesome/fontawesome-free/css/all.min.css", "fontawesome/css/all.min.css"),
    ("@fortawesome/fontawesome-free/webfonts", "fontawesome/webfonts"),
    ("leaflet.markercluster/dist/leaflet.markercluster.js", "markercluster/markercluster.js"),
    ("leaflet.markercluster/dist/MarkerCluster.css", "markercluster/MarkerCluster.css"),
    (
        "leaflet.markercluster/dist/MarkerCluster.Default.css",
        "markercluster/MarkerCluster.Default.css",
    ),
    ("leaflet-realtime/dist/leaflet-realtime.js", "realtime/leaflet-realtime.js"),
    ("folium:leaflet_heat.min.js", "leaflet-heat/leaflet_heat.min.js"),
)

# Folium/branca link name -> file in the vendor tree, or None to drop the link.
LINKS: Final[dict[str, str | None]] = {
    "leaflet": "leaflet/leaflet.js",
    "leaflet_css": "leaflet/leaflet.css",
    "jquery": "jquery/jquery.min.js",
    "bootstrap": "bootstrap/js/bootstrap.bundle.min.js",
    "bootstrap_css": "bootstrap/css/bootstrap.min.css",
    "awesome_markers": "awesome-markers/am.js",
    "awesome_markers_css": "awesome-markers/am.css",
    "awesome_markers_font_css": "fontawesome/css/all.min.css",
    "markerclusterjs": "markercluster/markercluster.js",
    "markerclustercss": "markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "markercluster/MarkerCluster.Default.css",
    "Leaflet_Realtime_js": "realtime/leaflet-realtime.js",
    "leaflet-heat.js": "leaflet-heat/leaflet_heat.min.js",
    # Bootstrap 3 glyphicons: only for Icon(prefix="glyphicon"); gridgis maps use Font Awesome.
    "glyphicons_css": None,
    # Only for Icon(angle=...); Font Awesome 6 has its own fa-rotate-* classes.
    "awesome_rotate_css": None,
}

_EXTERNAL_LINK = re.compile(
    r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I
)


def asset_stamp() -> str:
    """Return the fingerprint of the lock file, the copy list and folium's version."""
    digest = hashlib.sha256()
    digest.update(LOCK_FILE.read_bytes() if LOCK_FILE.exists() else b"no lock")
    digest.update(repr(COPIES).encode())
    digest.update(version("folium").encode())
    return digest.hexdigest()


def vendor_ready(vendor_dir: Path = VENDOR_DIR) -> bool:
    """Return True when `vendor_dir` holds every linked file of the current lock."""
    stamp = vendor_dir / STAMP_NAME
    if not stamp.is_file() or stamp.read_text().strip() != asset_stamp():
        return False
    return all((vendor_dir / dest).exists() for _, dest in COPIES)


def require_vendor(vendor_dir: Path = VENDOR_DIR) -> Path:
    """Return `vendor_dir`, or raise `MapAssetsError` if it is missing or stale."""
    if not vendor_ready(vendor_dir):
        raise MapAssetsError(
            f"map assets in {vendor_dir} are missing or stale; run `python -m maps.assets install`"
        )
    return vendor_dir


def install(*, npm: str = "npm", force: bool = False, vendor_dir: Path = VENDOR_DIR) -> bool:
    """Install the npm packages and copy the linked files into `vendor_dir`.

    Does nothing when `vendor_dir` already matches the lock file (see `asset_stamp`). The new
    tree is assembled beside the old one and swapped in, so a failed install never leaves a
    half-copied vendor directory behind.

    Parameters
    ----------
    npm : str
        The npm executable.
    force : bool
        Reinstall even if the vendor tree looks current.
    vendor_dir : Path
        Where the files go (default ``maps/static/vendor``).

    Returns
    -------
    bool
        True if anything was installed, False if the tree was already current.

    Raises
    ------
    MapAssetsError
        If npm fails or a package lacks a file the maps link.
    """
    if not force and vendor_ready(vendor_dir):
        return False
    # npm ci installs exactly the lock; the install scripts (a Font Awesome banner) are not needed.
    command = [npm, "ci" if LOCK_FILE.exists() else "install", "--no-audit", "--no-fund"]
    command.append("--ignore-scripts")
    try:
        subprocess.run(command, cwd=PACKAGE_DIR, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise MapAssetsError(f"npm not found ({npm!r}): install Node.js and npm") from exc
    except subprocess.CalledProcessError as exc:
        raise MapAssetsError(
            f"`{' '.join(command)}` failed in {PACKAGE_DIR}:\n{exc.stderr}"
        ) from exc
    vendor_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".vendor-", dir=vendor_dir.parent))
    try:
        for source, dest in COPIES:
            _copy(_source_path(source), staging / dest)
        (staging / STAMP_NAME).write_text(asset_stamp() + "\n")
        old = vendor_dir.with_name(vendor_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if vendor_dir.exists():
            vendor_dir.rename(old)
        staging.rename(vendor_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def _source_path(source: str) -> Path:
    if source.startswith("folium:"):
        path = _FOLIUM_TEMPLATES / source.removeprefix("folium:")
    else:
        path = NODE_MODULES / source
    if not path.exists():
        raise MapAssetsError(f"{path} is missing: the installed package does not ship {source!r}")
    return path


def _copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(source, dest)


class LocalAssets(Element):
    """Point the figure's script and stylesheet links at local copies.

    Added as the figure's last child, it renders after the map and its plugins have registered
    their CDN links in the header, and rewrites them in place (by folium's link name) before the
    figure template writes the header out.
    """

    def __init__(self, asset_base: str) -> None:
        super().__init__()
        self._name = "LocalAssets"
        self.asset_base = asset_base if asset_base.endswith("/") else asset_base + "/"

    def render(self, **kwargs: Any) -> str:
        """Rewrite the header links; render nothing itself."""
        header = cast(Figure, self.get_root()).header
        for name, child in list(header._children.items()):
            if not isinstance(child, JavascriptLink | CssLink):
                continue
            if name not in LINKS:
                raise MapAssetsError(
                    f"no local copy of asset {name!r} ({child.url}): add its npm package to "
                    "maps/package.json and its file to maps.assets.COPIES and LINKS"
                )
            local = LINKS[name]
            if local is None:
                del header._children[name]
            else:
                child.url = self.asset_base + local
        return ""


def offline_html(fmap: folium.Map, *, asset_base: str = DEFAULT_ASSET_BASE) -> str:
    """Render `fmap` to a complete HTML page whose scripts and stylesheets are all local.

    Parameters
    ----------
    fmap : folium.Map
        A map from `maps.render`.
    asset_base : str
        URL prefix of the vendor tree: ``/static/vendor/`` (served by the API), or a path
        relative to the page such as ``vendor/`` (an exported file).

    Returns
    -------
    str
        The HTML page. Tile URL templates and data URLs are left as given.

    Raises
    ------
    MapAssetsError
        If a script or stylesheet has no local copy, or an external link survives.
    """
    root = cast(Figure, fmap.get_root())
    name = "gridgis_local_assets"
    root._children.pop(name, None)  # re-added last so it runs after every other element
    root.add_child(LocalAssets(asset_base), name=name)
    html: str = root.render()
    leftover = _EXTERNAL_LINK.search(html)
    if leftover is not None:
        snippet = html[leftover.start() : leftover.start() + 160]
        raise MapAssetsError(f"an external script or stylesheet survived: {snippet!r}")
    return html


def write_map(
    fmap: folium.Map, path: Path | str, *, link: bool = False, vendor_dir: Path = VENDOR_DIR
) -> Path:
    """Write `fmap` to `path` with the vendor assets beside it, so the file opens offline.

    Parameters
    ----------
    fmap : folium.Map
        A map from `maps.render`.
    path : Path or str
        The HTML file to write; ``vendor/`` is created in its directory.
    link : bool
        Symlink the installed vendor tree instead of copying it (for local previews).
    vendor_dir : Path
        The installed vendor tree.

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    MapAssetsError
        If the vendor tree is not installed (run ``python -m maps.assets install``).
    """
    source = require_vendor(vendor_dir)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    target = out.parent / "vendor"
    if link:
        if target.is_symlink() or not target.exists():
            target.unlink(missing_ok=True)
            target.symlink_to(source, target_is_directory=True)
    elif not vendor_ready(target):
        if target.is_symlink():
            target.unlink()
        shutil.copytree(source, target, dirs_exist_ok=True)
    out.write_text(offline_html(fmap, asset_base="vendor/"), encoding="utf-8")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m maps.assets install [--force]`` or ``check``."""
    parser = argparse.ArgumentParser(prog="python -m maps.assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    install_cmd = sub.add_parser("install", help="npm ci, then copy the files to static/vendor")
    install_cmd.add_argument("--force", action="store_true", help="reinstall even if current")
    install_cmd.add_argument("--npm", default="npm", help="npm executable")
    sub.add_parser("check", help="exit 1 unless static/vendor matches the lock")
    args = parser.parse_args(argv)
    if args.command == "check":
        ready = vendor_ready()
        print(f"{VENDOR_DIR}: {'current' if ready else 'missing or stale'}")
        return 0 if ready else 1
    try:
        changed = install(npm=args.npm, force=args.force)
    except MapAssetsError as exc:
        print(f"error: {exc}")
        return 1
    print(f"{VENDOR_DIR}: {'installed' if changed else 'already current'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
