"""Grid codes: 12-digit prefix + sequence, reading order, numbers never reused."""

from __future__ import annotations

import numpy as np
import pytest

from gis.errors import InvalidInputError
from gis.gridding.codes import next_codes, number_cells, prefix_and_width, reading_order


def test_cells_are_read_north_to_south_then_west_to_east() -> None:
    # A 3 x 2 lattice with jitter: rows at y = 200, 100, 0 (north first).
    x = np.array([0, 100, 0, 100, 0, 100], dtype=float) + np.array([3, -2, 1, 0, -4, 2])
    y = np.array([0, 0, 100, 100, 200, 200], dtype=float) + np.array([5, -5, 8, -3, 0, 6])

    order = reading_order(x, y, row_height_m=100)

    assert order.tolist() == [4, 5, 2, 3, 0, 1]


def test_beijing_codes_have_15_digits_and_width_2_gives_14() -> None:
    x, y = np.array([0.0, 50.0]), np.array([0.0, 0.0])

    codes15, used = number_cells(["110101011000"] * 2, x, y)
    codes14, _ = number_cells(["110101011000"] * 2, x, y, width=2)

    assert codes15 == ["110101011000001", "110101011000002"]
    assert codes14 == ["11010101100001", "11010101100002"]
    assert used == {"110101011000": 2}


def test_each_community_is_numbered_on_its_own() -> None:
    prefixes = ["110101011001", "110101011002", "110101011001"]

    codes, used = number_cells(prefixes, np.array([0.0, 0, 10]), np.array([0.0, 0, 0]))

    assert codes == ["110101011001001", "110101011002001", "110101011001002"]
    assert used == {"110101011001": 2, "110101011002": 1}


def test_removed_numbers_are_never_given_out_again() -> None:
    used = {"110101011000": 12}  # cells 1..12 existed; say 12 was merged away

    assert next_codes(used, "110101011000", 2, width=3) == [
        "110101011000013",
        "110101011000014",
    ]
    assert used["110101011000"] == 14


def test_running_out_of_numbers_and_bad_prefixes_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="no grid numbers left"):
        next_codes({"110101011000": 98}, "110101011000", 2, width=2)
    with pytest.raises(InvalidInputError, match="12-digit"):
        next_codes({}, "110101011", 1, width=3)
    with pytest.raises(InvalidInputError, match="14- or 15-digit"):
        prefix_and_width("1101010110001")
