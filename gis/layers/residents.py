"""Reading the residents register: masked lists, audited unmasking, suppressed counts.

- `list_residents` / `find_resident` return masked values (``1101**********123X``,
  ``138****1234``, ``张*``). ``unmask=True`` needs ``Principal.can_unmask``; a principal
  without it is refused with `PermissionDeniedError` rather than silently served masked data,
  so a client never mistakes a mask for the real value. Every record returned unmasked writes
  one audit record (`gis.audit.audit`), with the stated purpose.
- Scope is applied in SQL through the building's street and grid codes
  (`Principal.scope_clause`). Analysts, who lack READ_PEOPLE, get `resident_counts` only, with
  groups of fewer than ``RESIDENT_SMALL_CELL_MIN`` people suppressed (`CountOptions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from gis.audit import audit
from gis.auth import Permission, PermissionDeniedError, Principal
from gis.errors import NotFoundError
from gis.layers.buildings import Building, Dwelling
from gis.layers.keys import ResidentCrypto
from gis.layers.people import Household, Person
from gis.privacy import mask_id_number, mask_name, mask_phone
from gis.settings import Settings

_SMALL_CELL_DEFAULT: Final[int] = Settings.model_fields["resident_small_cell_min"].default


@dataclass(frozen=True)
class CountOptions:
    """How `resident_counts` protects small groups; build it with `from_settings`.

    Attributes
    ----------
    small_cell_min : int
        Counts below this are reported as None (small-cell suppression; a design choice,
        standards.md §7.3), from ``RESIDENT_SMALL_CELL_MIN``.
    """

    small_cell_min: int = _SMALL_CELL_DEFAULT

    @classmethod
    def from_settings(cls, settings: Settings) -> CountOptions:
        """Return the options configured in ``settings``."""
        return cls(small_cell_min=settings.resident_small_cell_min)


class CountBy(StrEnum):
    """Grouping of `resident_counts`."""

    GRID = "grid"
    STREET = "street"
    BUILDING = "building"


@dataclass(frozen=True)
class Resident:
    """A resident as the register returns it; ``masked`` says whether the PI is masked."""

    id: int
    name: str | None
    id_number: str | None
    phone: str | None
    sex: str | None
    birth_year: int | None
    residence: str
    tags: tuple[str, ...]
    relation: str | None
    household_id: int | None
    building_id: int | None
    building_code: str | None
    unit_label: str | None
    street_code: str | None
    grid_code: str | None
    masked: bool

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = dict(self.__dict__)
        out["tags"] = list(self.tags)
        return out


def _scope(principal: Principal) -> ColumnElement[bool]:
    """Return the principal's scope over residents (via their building) as SQL."""
    return principal.scope_clause(Building.street_code.expression, Building.grid_code.expression)


def list_residents(
    session: Session,
    principal: Principal,
    *,
    crypto: ResidentCrypto,
    grid_code: str | None = None,
    building_id: int | None = None,
    unmask: bool = False,
    purpose: str | None = None,
    limit: int = 100,
    offset: int = 0,
    person_id: int | None = None,
    _index: bytes | None = None,
) -> list[Resident]:
    """Return residents in the principal's scope, masked unless unmasking is allowed.

    Parameters
    ----------
    unmask : bool
        Return clear text. Needs ``principal.can_unmask``; writes one audit record per
        resident returned (with ``purpose``).
    grid_code, building_id, person_id : optional
        Narrow the list (inside the scope, never beyond it).

    Raises
    ------
    PermissionDeniedError
        Without READ_PEOPLE (analysts: use `resident_counts`), or when ``unmask`` is asked
        without ``can_unmask``.
    """
    principal.require(Permission.READ_PEOPLE)
    if unmask and not principal.can_unmask:
        raise PermissionDeniedError(
            f"{principal.username} ({principal.role}) may not see unmasked personal data"
        )
    stmt = (
        select(
            Person.id,
            Person.name_enc,
            Person.id_number_enc,
            Person.phone_enc,
            Person.sex,
            Person.birth_year,
            Person.residence,
            Person.tags,
            Person.relation,
            Person.household_id,
            Building.id.label("building_id"),
            Building.code.label("building_code"),
            Dwelling.unit_label,
            Building.street_code,
            Building.grid_code,
        )
        .join(Building, Building.id == Person.building_id)
        .outerjoin(Building.membership)
        .outerjoin(Household, Household.id == Person.household_id)
        .outerjoin(Dwelling, Dwelling.id == Household.dwelling_id)
        .where(_scope(principal))
        .order_by(Person.id)
        .limit(limit)
        .offset(offset)
    )
    if grid_code is not None:
        stmt = stmt.where(Building.grid_code == grid_code)
    if building_id is not None:
        stmt = stmt.where(Building.id == building_id)
    if person_id is not None:
        stmt = stmt.where(Person.id == person_id)
    if _index is not None:
        stmt = stmt.where(Person.id_number_index == _index)
    residents = [_resident(row, crypto, unmask=unmask) for row in session.execute(stmt)]
    if unmask:
        for r in residents:
            audit(
                session,
                actor=principal.username,
                action="unmask",
                target_kind="person",
                target_id=r.id,
                detail={"fields": ["name", "id_number", "phone"], "purpose": purpose},
            )
        session.flush()
    return residents


def _resident(row: Any, crypto: ResidentCrypto, *, unmask: bool) -> Resident:
    def clear(blob: bytes | None, column: str) -> str | None:
        return None if blob is None else crypto.decrypt(bytes(blob), column=column)

    name = clear(row.name_enc, "name")
    id_number = clear(row.id_number_enc, "id_number")
    phone = clear(row.phone_enc, "phone")
    if not unmask:
        name = None if name is None else mask_name(name)
        id_number = None if id_number is None else mask_id_number(id_number)
        phone = None if phone is None else mask_phone(phone)
    return Resident(
        id=row.id,
        name=name,
        id_number=id_number,
        phone=phone,
        sex=row.sex,
        birth_year=row.birth_year,
        residence=row.residence,
        tags=tuple(row.tags or ()),
        relation=row.relation,
        household_id=row.household_id,
        building_id=row.building_id,
        building_code=row.building_code,
        unit_label=row.unit_label,
        street_code=row.street_code,
        grid_code=row.grid_code,
        masked=not unmask,
    )


def find_resident(
    session: Session,
    principal: Principal,
    id_number: str,
    *,
    crypto: ResidentCrypto,
    unmask: bool = False,
    purpose: str | None = None,
) -> Resident:
    """Return the resident with this ID number (found by blind index, never by decrypting).

    Masking, unmasking and auditing are those of `list_residents`.

    Raises
    ------
    NotFoundError
        If no resident in the principal's scope has this ID number.
    """
    index = crypto.index_id_number(id_number.strip().upper())
    found = list_residents(
        session, principal, crypto=crypto, unmask=unmask, purpose=purpose, _index=index
    )
    if not found:
        raise NotFoundError("resident", "with this ID number")
    return found[0]


def get_resident(
    session: Session,
    principal: Principal,
    person_id: int,
    *,
    crypto: ResidentCrypto,
    unmask: bool = False,
    purpose: str | None = None,
) -> Resident:
    """Return one resident by person id (masking and auditing as in `list_residents`).

    Raises
    ------
    NotFoundError
        If there is no such person in the principal's scope.
    """
    found = list_residents(
        session, principal, crypto=crypto, unmask=unmask, purpose=purpose, person_id=person_id
    )
    if not found:
        raise NotFoundError("resident", person_id)
    return found[0]


def resident_counts(
    session: Session,
    principal: Principal,
    *,
    by: CountBy | str = CountBy.GRID,
    options: CountOptions | None = None,
) -> list[dict[str, Any]]:
    """Return resident counts per grid, street or building in scope, small cells suppressed.

    Each item is ``{"key", "residents", "registered", "migrant"}``; any count below
    ``options.small_cell_min`` is None, so no group of fewer people can be singled out.
    Needs READ_LAYERS (analysts have it), not READ_PEOPLE.
    """
    principal.require(Permission.READ_LAYERS)
    min_count = (options or CountOptions()).small_cell_min
    key_col = {
        CountBy.GRID: Building.grid_code,
        CountBy.STREET: Building.street_code,
        CountBy.BUILDING: Building.code,
    }[CountBy(by)]
    stmt = (
        select(
            key_col.label("key"),
            func.count(Person.id).label("residents"),
            func.count(Person.id).filter(Person.residence == "registered").label("registered"),
            func.count(Person.id).filter(Person.residence == "migrant").label("migrant"),
        )
        .join(Building, Building.id == Person.building_id)
        .outerjoin(Building.membership)
        .where(_scope(principal))
        .group_by(key_col)
        .order_by(key_col)
    )

    def suppress(n: int) -> int | None:
        return n if n >= min_count else None

    return [
        {
            "key": row.key,
            "residents": suppress(row.residents),
            "registered": suppress(row.registered),
            "migrant": suppress(row.migrant),
        }
        for row in session.execute(stmt)
    ]
