"""Grid cell codes: 12-digit community (or street) code + a 2- or 3-digit sequence.

Beijing's DB11/T 2157-2023 gives 15 digits (6 district + 3 street + 3 community + 3 sequence),
the older national layout 14 (2-digit sequence). Cells are numbered north→south, then
west→east within a row; numbers once given are never reused in a plan's lineage, so an edit
keeps every surviving code and gives new cells the next free numbers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gis.errors import InvalidInputError

DEFAULT_WIDTH = 3
WIDTHS = (2, 3)


def check_width(width: int) -> int:
    """Return ``width`` when it is an allowed sequence width (2 or 3 digits)."""
    if width not in WIDTHS:
        raise InvalidInputError(f"grid code sequence width must be 2 or 3 digits, got {width}")
    return width


def reading_order(
    x: NDArray[np.float64], y: NDArray[np.float64], *, row_height_m: float | None = None
) -> NDArray[np.int64]:
    """Return the order that reads cells north→south in rows, west→east within each row.

    Parameters
    ----------
    x, y : ndarray of float
        Cell label points in a metric CRS (easting, northing in metres).
    row_height_m : float, optional
        Height of a reading row; default the median spacing that makes about √n rows.

    Examples
    --------
    >>> reading_order(np.array([0.0, 100, 0, 100]), np.array([0.0, 5, 100, 95]))
    array([2, 3, 0, 1])
    """
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if row_height_m is None:
        span = float(np.ptp(y)) if n > 1 else 1.0
        row_height_m = max(span / max(np.sqrt(n), 1.0), 1.0)
    # Rows are centred on the northernmost cell's latitude, one row height apart.
    row = np.floor((float(np.max(y)) - y) / row_height_m + 0.5).astype(np.int64)
    return np.lexsort((x, row)).astype(np.int64)


def next_codes(used: dict[str, int], prefix: str, count: int, *, width: int) -> list[str]:
    """Return ``count`` new codes after the highest number ever used under ``prefix``.

    ``used`` is updated in place, so numbers of removed cells are never handed out again.

    >>> used = {"110101001000": 7}
    >>> next_codes(used, "110101001000", 2, width=3), used
    (['110101001000008', '110101001000009'], {'110101001000': 9})
    """
    check_width(width)
    if len(prefix) != 12 or not prefix.isdigit():
        raise InvalidInputError(f"grid code prefix must be a 12-digit code, got {prefix!r}")
    start = used.get(prefix, 0)
    if start + count >= 10**width:
        raise InvalidInputError(
            f"no grid numbers left under {prefix} with width {width}: {start} used, "
            f"{count} more needed; use width 3"
        )
    used[prefix] = start + count
    return [f"{prefix}{n:0{width}d}" for n in range(start + 1, start + count + 1)]


def number_cells(
    prefixes: list[str],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    *,
    width: int = DEFAULT_WIDTH,
    used: dict[str, int] | None = None,
    row_height_m: float | None = None,
) -> tuple[list[str], dict[str, int]]:
    """Give new cells codes per 12-digit prefix in reading order; return codes and ``used``.

    Parameters
    ----------
    prefixes : list of str
        12-digit community (or street) code of each cell.
    x, y : ndarray of float
        Label points in a metric CRS.
    width : int
        Sequence digits (2 or 3).
    used : dict, optional
        Highest number already used per prefix (a plan's ``used_numbers``); not modified.
    row_height_m : float, optional
        Height of a reading row (metres), e.g. the side of a typical cell.
    """
    used = dict(used or {})
    codes = [""] * len(prefixes)
    keys = np.asarray(prefixes, dtype=object)
    for prefix in sorted(set(prefixes)):  # one numbering run per community
        idx = np.flatnonzero(keys == prefix)
        order = idx[reading_order(x[idx], y[idx], row_height_m=row_height_m)]
        for i, code in zip(order, next_codes(used, prefix, len(idx), width=width), strict=True):
            codes[i] = code
    return codes, used


def prefix_and_width(code: str) -> tuple[str, int]:
    """Split a grid code into its 12-digit prefix and its sequence width."""
    if len(code) - 12 not in WIDTHS or not code.isdigit():
        raise InvalidInputError(f"{code!r} is not a 14- or 15-digit grid code")
    return code[:12], len(code) - 12
