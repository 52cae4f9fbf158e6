"""The residents register (实有人口): masked lists, audited unmasking, registration, counts.

ID numbers, phones and names leave masked (``1101**********123X``, ``138****1234``, ``张*``).
``?unmask=true`` needs a user with the unmask right; it writes one audit record per resident
returned, with the ``purpose`` given. Grid workers see only their grids (the `gis` query
applies the scope). Analysts may not read people: they get ``/residents/counts``, where any
group smaller than ``RESIDENT_SMALL_CELL_MIN`` is reported as null.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from api.auth import PrincipalDep, requires
from api.deps import SessionDep, SettingsDep
from api.params import DB_INT_MAX
from gis.auth import Permission, Principal
from gis.layers.keys import ResidentCrypto
from gis.layers.register import Residence, ResidentInput, add_resident
from gis.layers.residents import (
    CountBy,
    CountOptions,
    get_resident,
    list_residents,
    resident_counts,
)

router = APIRouter(prefix="/residents", tags=["residents"])
PersonId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]


async def resident_crypto(request: Request, settings: SettingsDep) -> ResidentCrypto:
    """Return the app's resident cipher (the key is read once per process, then no hop)."""
    crypto: ResidentCrypto | None = getattr(request.app.state, "resident_crypto", None)
    if crypto is None:
        crypto = ResidentCrypto.from_settings(settings)
        request.app.state.resident_crypto = crypto
    return crypto


CryptoDep = Annotated[ResidentCrypto, Depends(resident_crypto)]
Unmask = Annotated[
    bool, Query(description="clear text; needs the unmask right and is audited per record")
]
Purpose = Annotated[
    str | None, Query(max_length=200, description="why the clear text is needed (audited)")
]


class ResidentBody(BaseModel):
    """One resident to register into a dwelling of a building."""

    id_number: str = Field(min_length=1, max_length=40, description="18-character GB 11643")
    name: str = Field(min_length=1, max_length=50)
    building: Annotated[int, Field(ge=1, le=DB_INT_MAX)] | Annotated[str, Field(max_length=100)] = (
        Field(description="building id, or its code / source id")
    )
    unit_label: str = Field(min_length=1, max_length=40, examples=["3-502"])
    phone: str | None = Field(default=None, max_length=30)
    residence: Residence = Residence.REGISTERED
    tags: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=20)
    relation: str | None = Field(default=None, max_length=40)


@router.get("", summary="Residents in scope (masked unless unmask=true)")
def read_residents(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    crypto: CryptoDep,
    grid_code: Annotated[str | None, Query(max_length=20)] = None,
    building_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
    unmask: Unmask = False,
    purpose: Purpose = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Return one page of residents; analysts are refused (use /residents/counts)."""
    residents = list_residents(
        session,
        principal,
        crypto=crypto,
        grid_code=grid_code,
        building_id=building_id,
        unmask=unmask,
        purpose=purpose,
        limit=min(limit, settings.page_max_items),
        offset=offset,
    )
    return [r.to_dict() for r in residents]


@router.get("/counts", summary="Resident counts per grid/street/building (small cells null)")
def read_counts(
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(requires(Permission.READ_LAYERS))],
    by: CountBy = CountBy.GRID,
) -> list[dict[str, Any]]:
    """Return aggregates only: counts below RESIDENT_SMALL_CELL_MIN are null."""
    return resident_counts(session, principal, by=by, options=CountOptions.from_settings(settings))


@router.get("/{person_id}", summary="One resident (masked unless unmask=true)")
def read_resident(
    person_id: PersonId,
    session: SessionDep,
    principal: PrincipalDep,
    crypto: CryptoDep,
    unmask: Unmask = False,
    purpose: Purpose = None,
) -> dict[str, Any]:
    """Return the resident (404 when unknown or outside the caller's scope)."""
    return get_resident(
        session, principal, person_id, crypto=crypto, unmask=unmask, purpose=purpose
    ).to_dict()


@router.post("", summary="Register a resident", status_code=201)
def create_resident(
    body: ResidentBody, session: SessionDep, principal: PrincipalDep, crypto: CryptoDep
) -> dict[str, Any]:
    """Validate (GB 11643 ID, phone, building in scope), encrypt and store; return it masked."""
    person_id = add_resident(
        session,
        principal,
        ResidentInput(
            id_number=body.id_number,
            name=body.name,
            building=body.building,
            unit_label=body.unit_label,
            phone=body.phone,
            residence=body.residence,
            tags=tuple(body.tags),
            relation=body.relation,
        ),
        crypto=crypto,
    )
    return get_resident(session, principal, person_id, crypto=crypto).to_dict()
