"""Calibrate synthetic buildings to census population (residents per district).

The counts are in ``gis/data/synth/district_population.csv`` (district code, residents, year,
source), e.g. the 2020 census (第七次全国人口普查) for Dongcheng and Xicheng. The generator's
lattice gives plausible densities but not the real ones, so every street of a district gets one
factor on its dwellings: the district's census density (residents per km² of its stored streets)
divided by the unscaled synthetic density of the streets being generated. Generating a whole
district thus gives its census count (to rounding); generating some of its streets gives them the
district's mean density. Districts without a census row keep a factor of 1.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.divisions import Division
from gis.errors import SeedDataError
from gis.synth.buildings import build_street

CENSUS_FILE: Final = "synth/district_population.csv"


@dataclass(frozen=True)
class DistrictCensus:
    """Residents counted in one district, with the source of the figure."""

    district_code: str
    name: str
    residents: int
    year: int
    source: str


def load_census() -> dict[str, DistrictCensus]:
    """Return the census rows of ``gis/data/synth/district_population.csv`` by district code."""
    raw = resources.files("gis.data").joinpath(CENSUS_FILE).read_text("utf-8")
    rows: dict[str, DistrictCensus] = {}
    for line, row in enumerate(csv.DictReader(io.StringIO(raw)), start=2):
        try:
            census = DistrictCensus(
                district_code=row["district_code"].strip(),
                name=row["name"].strip(),
                residents=int(row["residents"]),
                year=int(row["year"]),
                source=row["source"].strip(),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SeedDataError(f"{CENSUS_FILE} line {line}: {exc}") from exc
        if len(census.district_code) != 6 or census.residents <= 0:
            raise SeedDataError(
                f"{CENSUS_FILE} line {line}: need a 6-digit district code and residents > 0"
            )
        rows[census.district_code] = census
    return rows


def _street_area_km2(session: Session, codes: list[str]) -> float:
    area_m2 = session.execute(
        select(func.sum(func.ST_Area(func.Geography(Division.geom)))).where(
            Division.code.in_(codes)
        )
    ).scalar_one()
    return float(area_m2 or 0.0) / 1e6


def census_scales(session: Session, street_codes: list[str], *, seed: int) -> dict[str, float]:
    """Return the dwelling factor of each street so its district matches its census density.

    Builds the streets once unscaled (in memory, nothing written) to measure their density.
    """
    census = load_census()
    by_district: dict[str, list[str]] = defaultdict(list)
    for code in street_codes:
        by_district[code[:6]].append(code)
    scales = dict.fromkeys(street_codes, 1.0)
    for district, codes in by_district.items():
        if district not in census:
            continue
        all_streets = list(
            session.execute(
                select(Division.code).where(
                    Division.level == "street", Division.parent_code == district
                )
            ).scalars()
        )
        district_km2 = _street_area_km2(session, all_streets)
        unscaled = sum(
            int(build_street(session, code, seed=seed)[0].residents.sum()) for code in codes
        )
        if district_km2 <= 0 or unscaled == 0:
            continue
        target = census[district].residents / district_km2 * _street_area_km2(session, codes)
        scales.update(dict.fromkeys(codes, target / unscaled))
    return scales


__all__ = ["DistrictCensus", "census_scales", "load_census"]
