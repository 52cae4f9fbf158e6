"""Import every table module so ``Base.metadata`` is complete (Alembic, tests)."""

from gis.audit import AuditRecord
from gis.auth import ApiToken
from gis.coverage.store import CoverageResult, CoverageRun, Isochrone
from gis.db import Base
from gis.divisions import Division
from gis.gridding.models import GridCell, GridPlan
from gis.layers.buildings import Building, Dwelling
from gis.layers.components import Component
from gis.layers.facilities import Facility
from gis.layers.incidents import Incident, IncidentEvent
from gis.layers.people import Household, Person
from gis.network.store import NetworkEdge, NetworkNode
from gis.users import AppUser

__all__ = [
    "ApiToken",
    "AppUser",
    "AuditRecord",
    "Base",
    "Building",
    "Component",
    "CoverageResult",
    "CoverageRun",
    "Division",
    "Dwelling",
    "Facility",
    "GridCell",
    "GridPlan",
    "Household",
    "Incident",
    "IncidentEvent",
    "Isochrone",
    "NetworkEdge",
    "NetworkNode",
    "Person",
]
