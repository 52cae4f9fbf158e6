"""Synthetic households and people for the synthetic buildings of streets (flagged ``synthetic``).

For every synthetic building with dwellings, ``building.households`` dwellings get a household
and ``building.residents`` people are spread over them (at least one each), so the register
agrees with the building-level counts. People carry valid-format synthetic ID numbers (GB 11643
check digit, region = the district for registered residents, another province for migrants,
birth date from the age), sealed and blind-indexed exactly like the real register
(`gis.layers.keys.ResidentCrypto`, same column names as authenticated data), synthetic names
and mobile numbers, and service tags.

Rates are plausible, not census figures [uncertain]: 22 % migrant households, about a quarter
of residents aged 60+, 2 % low-income households, 2.5 % disabled (8 % at 65+; the 2006
national sample survey found 6.3 % of all ages), ``elderly_alone`` = 65+ in a one-person
household, ``child`` = under 18.

Everything is vectorised with numpy except sealing, which is one AES-GCM call per field
(about 3.5 µs) and one HMAC per ID number (about 4 µs): roughly 20 µs a person, ~40 s for the
1.8 M residents of Dongcheng + Xicheng. ``--sample-streets`` generates people for a sample of
streets only; building counts stay complete either way. Rows go in by COPY, street by street.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db import copy_rows
from gis.layers.idnumber import CHECK_CHARS, WEIGHTS
from gis.layers.keys import ResidentCrypto

SOURCE: Final = "synth:population"
REFERENCE_YEAR: Final = 2025
# Streets share the 3-digit ID sequence space in this many slots: numbers stay unique across
# up to 40 streets (Dongcheng + Xicheng have 32), 12 people per region/birth date/sex each.
ID_SEQUENCE_SLOTS: Final = 40
_SURNAMES: Final = tuple("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧")
_GIVEN: Final = tuple("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国玉梅志红春")
# Region codes of migrants' home counties (GB/T 2260), one per common origin province.
_MIGRANT_REGIONS: Final = ("130102", "370102", "410102", "230102", "210102", "340102", "130602")
# Age bands (years) and shares of household heads in the old inner city [uncertain].
_HEAD_AGES: Final = ((25, 35, 0.18), (35, 50, 0.27), (50, 65, 0.27), (65, 80, 0.2), (80, 95, 0.08))


@dataclass(frozen=True)
class PopulationRates:
    """Shares used by the generator (see the module docstring for their status)."""

    migrant_households: float = 0.22
    low_income_households: float = 0.02
    disabled: float = 0.025
    disabled_65_plus: float = 0.08


@dataclass
class StreetPopulation:
    """Counts written for one street."""

    street_code: str
    buildings: int = 0
    households: int = 0
    people: int = 0
    missing_dwellings: int = 0  # households that found no free dwelling row


def _ages(
    rng: np.random.Generator, member: NDArray[np.int64], head_age: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Ages of household members from the head's age and each member's position."""
    age = head_age.copy()
    spouse = member == 1
    age[spouse] = np.clip(head_age[spouse] + rng.integers(-5, 3, spouse.sum()), 20, 99)
    other = member >= 2
    young_head = head_age < 55
    child = other & young_head
    age[child] = rng.integers(0, np.maximum(head_age[child] - 22, 1))
    grown = other & ~young_head
    adult_child = grown & (rng.random(member.size) < 0.5)
    age[adult_child] = np.clip(
        head_age[adult_child] - rng.integers(24, 34, adult_child.sum()), 18, 70
    )
    grandchild = grown & ~adult_child
    age[grandchild] = rng.integers(0, 18, grandchild.sum())
    return age


def _head_ages(rng: np.random.Generator, n: int) -> NDArray[np.int64]:
    lows = np.array([b[0] for b in _HEAD_AGES])
    highs = np.array([b[1] for b in _HEAD_AGES])
    shares = np.array([b[2] for b in _HEAD_AGES])
    band = rng.choice(len(shares), size=n, p=shares / shares.sum())
    return np.asarray(rng.integers(lows[band], highs[band]), dtype=np.int64)


def id_numbers(
    region: NDArray[np.str_],
    birth: NDArray[np.datetime64],
    male: NDArray[np.bool_],
    *,
    slot: int = 0,
    slots: int = 1,
) -> NDArray[np.str_]:
    """Return unique valid 18-character ID numbers (sequence ranked within region/birth/sex).

    The sequence is ``2 × (rank × slots + slot) + male``: the parity gives the sex as GB 11643
    wants, and callers that generate in batches (one street at a time) pass a distinct
    ``slot`` per batch so numbers never repeat across batches, much as real sequence codes
    are handed out per police station. Each batch holds up to ``500 / slots`` people per
    region, birth date and sex.
    """
    if not 0 <= slot < slots:
        raise ValueError(f"slot {slot} is outside 0..{slots - 1}")
    days = pd.Series(birth).dt.strftime("%Y%m%d").to_numpy(dtype=str)
    frame = pd.DataFrame({"r": region, "d": days, "m": male})
    rank = frame.groupby(["r", "d", "m"]).cumcount().to_numpy() * slots + slot
    if rank.size and rank.max() >= 500:
        raise ValueError(
            f"more than {500 // slots} people of one batch share a region, birth date and sex"
        )
    seq = 2 * rank + male.astype(np.int64)
    first17 = np.char.add(np.char.add(region.astype(str), days), np.char.zfill(seq.astype(str), 3))
    raw = np.frombuffer("".join(first17.tolist()).encode("ascii"), dtype=np.uint8)
    digits = raw.reshape(-1, 17).astype(np.int64) - ord("0")
    check = np.frombuffer(CHECK_CHARS.encode("ascii"), dtype="S1")[
        (digits @ np.asarray(WEIGHTS, dtype=np.int64)) % 11
    ].astype(str)
    return np.char.add(first17, check)


def _names(rng: np.random.Generator, n: int) -> NDArray[np.str_]:
    surname = np.asarray(_SURNAMES)[rng.integers(0, len(_SURNAMES), n)]
    given = np.asarray(_GIVEN)[rng.integers(0, len(_GIVEN), n)]
    second = np.asarray(_GIVEN)[rng.integers(0, len(_GIVEN), n)]
    two = rng.random(n) < 0.6
    return np.where(
        two, np.char.add(np.char.add(surname, given), second), np.char.add(surname, given)
    )


def _phones(rng: np.random.Generator, n: int) -> NDArray[np.str_]:
    prefix = rng.choice(np.array(["13", "15", "17", "18", "19"]), n)
    rest = np.char.zfill(rng.integers(0, 10**9, n).astype(str), 9)
    return np.char.add(prefix, rest)


def _hex(blobs: list[bytes]) -> list[str]:
    return ["\\x" + b.hex() for b in blobs]


def _dwellings(session: Session, street_code: str, seed: int) -> pd.DataFrame:
    """Dwellings that get a household: the first ``households`` of each synthetic building."""
    rows = session.execute(
        text(
            "SELECT d.id AS dwelling_id, d.building_id, b.households, b.residents"
            " FROM (SELECT d.id, d.building_id, row_number() OVER ("
            "   PARTITION BY d.building_id ORDER BY md5(d.id::text || :seed)) AS rank"
            "   FROM dwelling d JOIN building b ON b.id = d.building_id"
            "   JOIN building_membership m ON m.id = b.id"
            "   WHERE b.synthetic AND m.street_code = :street) d"
            " JOIN building b ON b.id = d.building_id"
            " WHERE d.rank <= b.households ORDER BY d.building_id, d.id"
        ),
        {"street": street_code, "seed": str(seed)},
    ).all()
    return pd.DataFrame(rows, columns=["dwelling_id", "building_id", "households", "residents"])


def _clear(session: Session, street_code: str) -> None:
    for table in ("person", "household"):
        session.execute(
            text(
                f"DELETE FROM {table} t USING building b, building_membership m"
                " WHERE t.building_id = b.id AND m.id = b.id"
                " AND t.synthetic AND b.synthetic AND m.street_code = :street"
            ),
            {"street": street_code},
        )


def _sequence(session: Session, table: str, n: int) -> NDArray[np.int64]:
    ids = session.execute(
        text(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"
        ),
        {"n": n},
    ).scalars()
    return np.asarray(list(ids), dtype=np.int64)


def write_street_population(
    session: Session,
    street_code: str,
    *,
    crypto: ResidentCrypto,
    seed: int,
    rates: PopulationRates | None = None,
) -> StreetPopulation:
    """Replace the synthetic households and people of one street's synthetic buildings."""
    rates = rates or PopulationRates()
    out = StreetPopulation(street_code)
    _clear(session, street_code)
    dwellings = _dwellings(session, street_code, seed)
    if dwellings.empty:
        return out
    rng = np.random.default_rng([seed, int(street_code)])
    per_building = dwellings.groupby("building_id", sort=True).agg(
        found=("dwelling_id", "size"),
        households=("households", "first"),
        residents=("residents", "first"),
    )
    out.buildings = len(per_building)
    out.missing_dwellings = int(
        (per_building["households"] - per_building["found"]).clip(lower=0).sum()
    )
    # Fewer dwelling rows than households: scale residents, keep at least one per household.
    residents = np.maximum(
        np.round(per_building["residents"] * per_building["found"] / per_building["households"]),
        per_building["found"],
    ).astype(np.int64)
    n_households = len(dwellings)
    household_ids = _sequence(session, "household", n_households)
    first_of_building = np.concatenate([[0], np.cumsum(per_building["found"].to_numpy())[:-1]])
    extra = (residents - per_building["found"]).to_numpy()
    owner_of_extra = np.repeat(np.arange(len(per_building)), extra)
    pick = first_of_building[owner_of_extra] + rng.integers(
        0, per_building["found"].to_numpy()[owner_of_extra]
    )
    size = 1 + np.bincount(pick, minlength=n_households)
    migrant_household = rng.random(n_households) < rates.migrant_households
    low_income_household = rng.random(n_households) < rates.low_income_households
    copy_rows(
        session,
        "household",
        pd.DataFrame(
            {
                "id": household_ids,
                "dwelling_id": dwellings["dwelling_id"].to_numpy(),
                "building_id": dwellings["building_id"].to_numpy(),
                "registration": np.where(migrant_household, "migrant", "registered"),
                "synthetic": True,
            }
        ),
        ["id", "dwelling_id", "building_id", "registration", "synthetic"],
    )
    people = _people(rng, size, migrant_household, low_income_household, rates, street_code)
    person_frame = _sealed(people, crypto, slot=_street_slot(session, street_code))
    person_frame["household_id"] = household_ids[people["household"]]
    person_frame["building_id"] = dwellings["building_id"].to_numpy()[people["household"]]
    copy_rows(session, "person", person_frame, list(person_frame.columns))
    out.households, out.people = n_households, len(person_frame)
    return out


def _people(
    rng: np.random.Generator,
    size: NDArray[np.int64],
    migrant: NDArray[np.bool_],
    low_income: NDArray[np.bool_],
    rates: PopulationRates,
    street_code: str,
) -> dict[str, Any]:
    household = np.repeat(np.arange(size.size), size)
    member = np.arange(household.size) - np.repeat(np.cumsum(size) - size, size)
    age = _ages(rng, member, _head_ages(rng, size.size)[household])
    male = rng.random(household.size) < 0.5
    heads, spouse = np.flatnonzero(member == 0), member == 1
    male[spouse] = ~male[heads[household[spouse]]]
    birth_year = REFERENCE_YEAR - age
    day_of_year = rng.integers(0, 365, household.size)
    birth = (birth_year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + day_of_year
    is_migrant = migrant[household]
    region = np.where(
        is_migrant,
        np.asarray(_MIGRANT_REGIONS)[rng.integers(0, len(_MIGRANT_REGIONS), household.size)],
        street_code[:6],
    )
    disabled_rate = np.where(age >= 65, rates.disabled_65_plus, rates.disabled)
    tags = pd.DataFrame(
        {
            "elderly_alone": (age >= 65) & (size[household] == 1),
            "disabled": rng.random(household.size) < disabled_rate,
            "low_income": low_income[household],
            "child": age < 18,
        }
    )
    tag_text = _tag_arrays(tags)
    moved_low = np.where(is_migrant, np.maximum(REFERENCE_YEAR - 20, birth_year), birth_year)
    moved = rng.integers(moved_low, REFERENCE_YEAR + 1)
    relation = np.select([member == 0, member == 1], ["head", "spouse"], "family")
    return {
        "household": household,
        "male": male,
        "birth_year": birth_year,
        "birth": birth,
        "region": region.astype(str),
        "migrant": is_migrant,
        "tags": tag_text,
        "moved_in_year": moved,
        "relation": relation,
        "age": age,
    }


def _tag_arrays(tags: pd.DataFrame) -> NDArray[np.str_]:
    """PostgreSQL array literals (``{a,b}``) of the true tag columns, vectorised."""
    text_ = pd.Series("", index=tags.index)
    for name in tags.columns:
        text_ = text_.where(~tags[name], text_ + "," + name)
    return ("{" + text_.str.lstrip(",") + "}").to_numpy(dtype=str)


def _street_slot(session: Session, street_code: str) -> int:
    """Return the street's ID sequence slot: its rank among the stored streets."""
    rank = session.execute(
        text("SELECT count(*) FROM division WHERE level = 'street' AND code < :code"),
        {"code": street_code},
    ).scalar_one()
    return int(rank) % ID_SEQUENCE_SLOTS


def _sealed(people: dict[str, Any], crypto: ResidentCrypto, *, slot: int) -> pd.DataFrame:
    """Encrypt and blind-index the personal fields, as `gis.layers.register` does."""
    n = people["household"].size
    rng = np.random.default_rng(int(people["birth_year"].sum()) % (2**32))
    numbers = id_numbers(
        people["region"], people["birth"], people["male"], slot=slot, slots=ID_SEQUENCE_SLOTS
    ).tolist()
    names = _names(rng, n).tolist()
    phones = _phones(rng, n)
    has_phone = people["age"] >= 14
    # The only per-person Python steps: one AES-GCM seal per field, one HMAC per ID number.
    id_enc = _hex([crypto.encrypt(v, column="id_number") for v in numbers])
    index = _hex([crypto.index_id_number(v) for v in numbers])
    name_enc = _hex([crypto.encrypt(v, column="name") for v in names])
    phone_enc = np.full(n, None, dtype=object)
    with_phone = np.flatnonzero(has_phone)
    phone_enc[with_phone] = _hex(
        [crypto.encrypt(v, column="phone") for v in phones[with_phone].tolist()]
    )
    return pd.DataFrame(
        {
            "name_enc": name_enc,
            "id_number_enc": id_enc,
            "id_number_index": index,
            "phone_enc": phone_enc,
            "sex": np.where(people["male"], "M", "F"),
            "birth_year": people["birth_year"],
            "residence": np.where(people["migrant"], "migrant", "registered"),
            "relation": people["relation"],
            "tags": people["tags"],
            "moved_in_year": people["moved_in_year"],
            "synthetic": True,
            "source": SOURCE,
        }
    )


def population_streets(
    session: Session,
    *,
    streets: list[str] | None = None,
    district: str | None = None,
    sample: int | None = None,
    seed: int = 2024,
) -> list[str]:
    """Return the streets to populate: named ones, a district's, all, or a seeded sample."""
    from gis.synth.buildings import street_codes_of

    codes = street_codes_of(session, streets=streets, district=district)
    if sample is not None and sample < len(codes):
        rng = np.random.default_rng(seed)
        codes = sorted(rng.choice(np.asarray(codes), size=sample, replace=False).tolist())
    return codes


def _cmd(args: argparse.Namespace, settings: Any) -> int:
    import time

    from rich.console import Console
    from rich.progress import Progress

    from gis.cli_context import cli_session
    from gis.layers.keys import ResidentCrypto

    console = Console()
    crypto = ResidentCrypto.from_settings(settings)
    started = time.perf_counter()
    totals = {"households": 0, "people": 0, "missing_dwellings": 0}
    with cli_session(settings) as session:
        codes = population_streets(
            session,
            streets=args.street,
            district=args.district,
            sample=args.sample_streets,
            seed=args.seed,
        )
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("synthetic population", total=len(codes))
            for code in codes:
                result = write_street_population(session, code, crypto=crypto, seed=args.seed)
                for key in totals:
                    totals[key] += getattr(result, key)
                progress.advance(task)
    elapsed = time.perf_counter() - started
    console.print(
        f"{totals['people']:,} synthetic people in {totals['households']:,} households of "
        f"{len(codes)} street(s) in {elapsed:.1f} s (seed {args.seed})"
        + (
            f"; {totals['missing_dwellings']:,} households lacked a dwelling row"
            if totals["missing_dwellings"]
            else ""
        )
    )
    return 0


def add_command(subparsers: Any) -> None:
    """Add ``gridgis synth population``."""
    cmd = subparsers.add_parser(
        "population",
        help="synthetic households and people for synthetic buildings (replaces earlier ones)",
    )
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--street", action="append", help="9-digit street code (repeatable)")
    where.add_argument("--district", help="6-digit district code: all of its streets")
    cmd.add_argument(
        "--sample-streets", type=int, help="people for this many (seeded) streets only"
    )
    cmd.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    cmd.set_defaults(func=_cmd)


__all__ = [
    "SOURCE",
    "PopulationRates",
    "StreetPopulation",
    "add_command",
    "id_numbers",
    "population_streets",
    "write_street_population",
]
