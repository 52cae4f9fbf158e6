"""Colours, classes and labels of the map layers: one place to restyle every map.

Palettes are ColorBrewer schemes (colour-blind safe in the classes used here). Classification is
vectorised with numpy; the maps put the resulting colour on each feature, so the browser does no
styling work of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Final

import numpy as np
import numpy.typing as npt

from gis.errors import MapInputError

OSM_ATTRIBUTION: Final = "© OpenStreetMap contributors"
SYNTHETIC_LABEL: Final = "synthetic data"
BACKGROUND_COLOUR: Final = "#eceae4"

# Households against the target band: diverging RdYlBu, pale yellow = inside the band.
BAND_CLASSES: Final[tuple[tuple[str, str], ...]] = (
    ("far_below", "#2c7bb6"),
    ("below", "#abd9e9"),
    ("in_band", "#ffffbf"),
    ("above", "#fdae61"),
    ("far_above", "#d7191c"),
)
BAND_MARGIN: Final = 0.2  # "far" = more than 20 % of the band's edge beyond it

# Incident workflow states (GB/T 30428) and their marker colours.
STATUS_COLOURS: Final[dict[str, str]] = {
    "reported": "#6a3d9a",
    "filed": "#1f78b4",
    "dispatched": "#ff7f00",
    "in_progress": "#e6ab02",
    "handled": "#33a02c",
    "verified": "#1b9e77",
    "postponed": "#a6761d",
    "suspended": "#7f7f7f",
    "closed": "#969696",
    "cancelled": "#bdbdbd",
}
CLOSED_STATUSES: Final = frozenset({"closed", "cancelled"})
UNKNOWN_STATUS_COLOUR: Final = "#000000"
OVERDUE_COLOUR: Final = "#e31a1c"

# Sequential palettes (5 classes).
SEQUENTIAL_REDS: Final = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")
SEQUENTIAL_GREENS: Final = ("#edf8e9", "#bae4b3", "#74c476", "#31a354", "#006d2c")

# Coverage categories, in the order given (ColorBrewer Dark2 then Set1).
CATEGORY_COLOURS: Final = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#e41a1c",
    "#377eb8",
    "#4daf4a",
)
GAP_COLOUR: Final = "#d7191c"
OUTLINE_COLOUR: Final = "#404040"
STREET_OUTLINE_COLOUR: Final = "#252525"
COMMUNITY_OUTLINE_COLOUR: Final = "#6a51a3"
BUILDING_COLOUR: Final = "#8c8c8c"


def band_classes(
    households: npt.ArrayLike, band: tuple[int, int], *, margin: float = BAND_MARGIN
) -> npt.NDArray[np.int64]:
    """Return the index into `BAND_CLASSES` of each household count.

    Parameters
    ----------
    households : array_like
        Households per cell.
    band : (int, int)
        Inclusive target band ``(low, high)``, e.g. ``(300, 500)``.
    margin : float
        Share of ``low``/``high`` beyond which a cell is "far" below or above.

    Raises
    ------
    MapInputError
        If the band is empty or negative.

    Examples
    --------
    >>> band_classes([100, 280, 300, 500, 510, 900], (300, 500)).tolist()
    [0, 1, 2, 2, 3, 4]
    """
    low, high = band
    if not 0 <= low <= high:
        raise MapInputError(f"household band {band!r} must satisfy 0 <= low <= high")
    counts = np.asarray(households, dtype=np.float64)
    return np.select(
        [
            counts < low * (1 - margin),
            counts < low,
            counts <= high,
            counts <= high * (1 + margin),
        ],
        [0, 1, 2, 3],
        default=4,
    ).astype(np.int64)


def band_labels(band: tuple[int, int], *, margin: float = BAND_MARGIN) -> list[str]:
    """Return the legend label of each of `BAND_CLASSES` for `band`."""
    low, high = band
    far_low, far_high = round(low * (1 - margin)), round(high * (1 + margin))
    return [
        f"< {far_low} households",
        f"{far_low}–{low - 1}",
        f"{low}–{high} (target band)",
        f"{high + 1}–{far_high}",
        f"> {far_high}",
    ]


def status_colours(status: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Return the marker colour of each incident status (black for an unknown status)."""
    values = np.asarray(status, dtype=str)
    keys = np.array(list(STATUS_COLOURS), dtype=str)
    colours = np.array(list(STATUS_COLOURS.values()), dtype=str)
    order = np.argsort(keys)
    pos = np.clip(np.searchsorted(keys[order], values), 0, len(keys) - 1)
    found = keys[order][pos] == values
    return np.where(found, colours[order][pos], UNKNOWN_STATUS_COLOUR)


def bin_colours(
    values: npt.ArrayLike, edges: Sequence[float], palette: Sequence[str], *, missing: str
) -> npt.NDArray[np.str_]:
    """Return the palette colour of each value, binned by the inner `edges`.

    ``len(palette)`` must be ``len(edges) + 1``; NaN values get `missing`.

    Examples
    --------
    >>> bin_colours([0, 1, 5, float("nan")], [1, 3], ["a", "b", "c"], missing="-").tolist()
    ['a', 'b', 'c', '-']
    """
    if len(palette) != len(edges) + 1:
        raise MapInputError(f"{len(palette)} colours cannot colour {len(edges) + 1} bins")
    numbers = np.asarray(values, dtype=np.float64)
    index = np.digitize(numbers, np.asarray(edges, dtype=np.float64))
    return np.where(np.isnan(numbers), missing, np.asarray(palette, dtype=str)[index])


def count_edges(values: npt.ArrayLike, *, bins: int = 5) -> list[float]:
    """Return ``bins - 1`` increasing inner edges for non-negative counts (rounded quantiles).

    Examples
    --------
    >>> count_edges([0, 0, 1, 2, 3, 4, 8, 20])
    [1.0, 2.0, 4.0, 7.0]
    """
    numbers = np.asarray(values, dtype=np.float64)
    numbers = numbers[np.isfinite(numbers)]
    if numbers.size == 0:
        return [float(i + 1) for i in range(bins - 1)]
    quantiles = np.maximum(np.ceil(np.quantile(numbers, np.linspace(0, 1, bins + 1)[1:-1])), 1.0)
    # Counts are integers: make each edge at least one above the previous one.
    step = np.arange(quantiles.size, dtype=np.float64)
    edges = np.maximum.accumulate(quantiles - step) + step
    return [float(e) for e in edges]


def edge_labels(edges: Sequence[float], *, integer: bool, percent: bool = False) -> list[str]:
    """Return legend labels for the bins that `edges` bound."""

    def fmt(value: float) -> str:
        if percent:
            return f"{value:.0%}"
        return f"{value:.0f}" if integer else f"{value:g}"

    labels = [f"< {fmt(edges[0])}"]
    for lo, hi in pairwise(edges):
        if integer and hi - lo == 1:
            labels.append(fmt(lo))
        else:
            labels.append(f"{fmt(lo)}–{fmt(hi - 1) if integer else fmt(hi)}")
    labels.append(f"≥ {fmt(edges[-1])}")
    return labels


def category_colour(index: int) -> str:
    """Return the colour of the `index`-th coverage category (the palette repeats)."""
    return CATEGORY_COLOURS[index % len(CATEGORY_COLOURS)]
