"""Users, passwords, bearer tokens and API keys, roles, and the scope every query honours.

A ``Principal`` is who is asking. The ``gis`` query functions take it and filter by its scope
themselves, so a route cannot forget to: a grid worker reads and writes only their grids, an
analyst gets aggregates only, and personal data is masked unless ``can_unmask``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    ForeignKey,
    String,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from gis.auth_cache import PrincipalCache, forget_checked_credentials
from gis.db import Base
from gis.errors import GisError, InvalidInputError
from gis.users import AppUser

_HASHER = PasswordHasher()
TOKEN_PREFIX = "ggt_"
API_KEY_PREFIX = "ggk_"


class Role(StrEnum):
    """What a user is, which decides what they may do."""

    ADMIN = "admin"
    PLANNER = "planner"
    COMMANDER = "commander"
    ANALYST = "analyst"
    GRID_WORKER = "grid_worker"


class Permission(StrEnum):
    """Actions that routes and gis functions check."""

    READ_DIVISIONS = "read_divisions"
    WRITE_DIVISIONS = "write_divisions"
    READ_GRIDS = "read_grids"
    WRITE_GRIDS = "write_grids"
    READ_LAYERS = "read_layers"
    WRITE_LAYERS = "write_layers"
    READ_PEOPLE = "read_people"
    WRITE_PEOPLE = "write_people"
    READ_INCIDENTS = "read_incidents"
    REPORT_INCIDENTS = "report_incidents"
    DISPATCH_INCIDENTS = "dispatch_incidents"
    READ_COVERAGE = "read_coverage"
    RUN_COVERAGE = "run_coverage"
    MANAGE_USERS = "manage_users"


_ALL = frozenset(Permission)
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: _ALL,
    Role.PLANNER: frozenset(
        {
            Permission.READ_DIVISIONS,
            Permission.WRITE_DIVISIONS,
            Permission.READ_GRIDS,
            Permission.WRITE_GRIDS,
            Permission.READ_LAYERS,
            Permission.WRITE_LAYERS,
            Permission.READ_INCIDENTS,
            Permission.READ_COVERAGE,
            Permission.RUN_COVERAGE,
        }
    ),
    Role.COMMANDER: frozenset(
        {
            Permission.READ_DIVISIONS,
            Permission.READ_GRIDS,
            Permission.READ_LAYERS,
            Permission.READ_INCIDENTS,
            Permission.REPORT_INCIDENTS,
            Permission.DISPATCH_INCIDENTS,
            Permission.READ_COVERAGE,
        }
    ),
    # Analysts see aggregates: no person-level reads, no incident details beyond the map.
    Role.ANALYST: frozenset(
        {
            Permission.READ_DIVISIONS,
            Permission.READ_GRIDS,
            Permission.READ_LAYERS,
            Permission.READ_COVERAGE,
            Permission.RUN_COVERAGE,
        }
    ),
    Role.GRID_WORKER: frozenset(
        {
            Permission.READ_DIVISIONS,
            Permission.READ_GRIDS,
            Permission.READ_LAYERS,
            Permission.READ_PEOPLE,
            Permission.WRITE_PEOPLE,
            Permission.READ_INCIDENTS,
            Permission.REPORT_INCIDENTS,
        }
    ),
}


class AuthenticationError(GisError):
    """No valid credentials (401)."""


class PermissionDeniedError(GisError):
    """Valid credentials, but not allowed to do this or to see this place (403)."""


@dataclass(frozen=True)
class Principal:
    """Who is asking, with their role and scope.

    ``divisions`` are 6/9/12-digit codes: a feature is in scope when its street code starts
    with one of them (a 12-digit community code limits by grid code prefix). ``grid_codes``
    restrict a grid worker to their cells. Empty scopes mean everywhere (admins, and
    city-wide roles).
    """

    username: str
    role: Role
    user_id: int | None = None
    divisions: tuple[str, ...] = ()
    grid_codes: tuple[str, ...] = ()
    can_unmask: bool = False
    department: str | None = None
    permissions: frozenset[Permission] = field(default_factory=frozenset)

    @classmethod
    def system(cls, name: str = "system") -> Principal:
        """Return the principal of the CLI and internal jobs: all permissions, no scope."""
        return cls(username=name, role=Role.ADMIN, can_unmask=True, permissions=_ALL)

    def can(self, permission: Permission) -> bool:
        """Return True when the role grants ``permission``."""
        return permission in (self.permissions or ROLE_PERMISSIONS[self.role])

    def require(self, permission: Permission) -> None:
        """Raise PermissionDeniedError unless the role grants ``permission``."""
        if not self.can(permission):
            raise PermissionDeniedError(
                f"{self.username} ({self.role}) may not {permission.value.replace('_', ' ')}"
            )

    @property
    def unrestricted(self) -> bool:
        """True when no division or grid scope applies."""
        return not self.divisions and not self.grid_codes

    def scope_clause(
        self,
        street_code: ColumnElement[str | None] | QueryableAttribute[str | None],
        grid_code: ColumnElement[str | None] | QueryableAttribute[str | None] | None = None,
    ) -> ColumnElement[bool]:
        """Return the SQL condition that keeps only rows this principal may see."""
        if self.unrestricted:
            return true()
        conditions: list[ColumnElement[bool]] = []
        if self.grid_codes:
            if grid_code is None:
                return false()
            conditions.append(grid_code.in_(self.grid_codes))
        else:
            for code in self.divisions:
                if len(code) <= 9:
                    conditions.append(street_code.startswith(code))
                elif grid_code is not None:
                    conditions.append(grid_code.startswith(code))
        return or_(*conditions) if conditions else false()

    def covers(self, street_code: str | None, grid_code: str | None) -> bool:
        """Python twin of ``scope_clause`` for a single feature (writes check it)."""
        if self.unrestricted:
            return True
        if self.grid_codes:
            return grid_code in self.grid_codes
        for code in self.divisions:
            if len(code) <= 9 and street_code and street_code.startswith(code):
                return True
            if len(code) == 12 and grid_code and grid_code.startswith(code):
                return True
        return False


class ApiToken(Base):
    """A bearer token (hashed; the plain token is shown once)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


def hash_password(password: str) -> str:
    """Return an Argon2id hash of ``password``."""
    if len(password) < 8:
        raise InvalidInputError("a password needs at least 8 characters")
    return _HASHER.hash(password)


def _digest(secret: str) -> str:
    # Tokens and keys are long random strings: a fast hash is enough and lets us index it.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_user(
    session: Session,
    *,
    username: str,
    role: Role,
    password: str | None = None,
    divisions: list[str] | None = None,
    grid_codes: list[str] | None = None,
    can_unmask: bool = False,
    display_name: str | None = None,
    department: str | None = None,
) -> AppUser:
    """Add a user; the password is hashed, never stored."""
    exists = session.execute(select(AppUser.id).where(AppUser.username == username)).first()
    if exists:
        raise InvalidInputError(f"user {username!r} already exists")
    user = AppUser(
        username=username,
        role=role.value,
        password_hash=hash_password(password) if password else None,
        scope_divisions=list(divisions or []),
        scope_grid_codes=list(grid_codes or []),
        can_unmask=can_unmask,
        display_name=display_name,
        department=department,
    )
    session.add(user)
    session.flush()
    return user


def principal_of(user: AppUser) -> Principal:
    """Return the principal acting as ``user``."""
    role = Role(user.role)
    return Principal(
        username=user.username,
        role=role,
        user_id=user.id,
        divisions=tuple(user.scope_divisions or ()),
        grid_codes=tuple(user.scope_grid_codes or ()),
        can_unmask=bool(user.can_unmask),
        department=user.department,
        permissions=ROLE_PERMISSIONS[role],
    )


def login(session: Session, username: str, password: str, *, ttl_h: float = 12.0) -> str:
    """Check a password and return a new bearer token valid for ``ttl_h`` hours."""
    user = session.execute(
        select(AppUser).where(AppUser.username == username, AppUser.active.is_(True))
    ).scalar_one_or_none()
    try:
        if user is None or not user.password_hash:
            raise VerificationError("no such user")
        _HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError) as exc:
        raise AuthenticationError("wrong username or password") from exc
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=_digest(token),
            expires_at=datetime.now(UTC) + timedelta(hours=ttl_h),
        )
    )
    session.flush()
    return token


def issue_api_key(session: Session, user: AppUser) -> str:
    """Give a machine user a new API key (replacing the old one); shown once."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    user.api_key_hash = _digest(key)
    session.flush()
    forget_checked_credentials()  # the replaced key stops working in this process at once
    return key


def remembered(credential: str, cache: PrincipalCache) -> Principal | None:
    """Return the principal ``cache`` still holds for ``credential`` (no database), or None."""
    return cache.get(_digest(credential))


def authenticate(
    session: Session, credential: str, *, cache: PrincipalCache | None = None
) -> Principal:
    """Return the principal of a bearer token or API key, or raise AuthenticationError.

    With ``cache``, a credential checked within the cache's lifetime is not looked up again.
    """
    digest = _digest(credential)
    if cache is not None and (known := cache.get(digest)) is not None:
        return known
    expires_at = None
    if credential.startswith(API_KEY_PREFIX):
        user = session.execute(
            select(AppUser).where(AppUser.api_key_hash == digest, AppUser.active.is_(True))
        ).scalar_one_or_none()
    else:
        row = session.execute(
            select(AppUser, ApiToken.expires_at)
            .join(ApiToken, ApiToken.user_id == AppUser.id)
            .where(
                ApiToken.token_hash == digest,
                ApiToken.revoked.is_(False),
                ApiToken.expires_at > func.now(),
                AppUser.active.is_(True),
            )
        ).one_or_none()
        user, expires_at = (None, None) if row is None else (row[0], row[1])
    if user is None:
        raise AuthenticationError("invalid or expired credentials")
    principal = principal_of(user)
    if cache is not None:
        cache.put(digest, principal, expires_at)
    return principal
