"""Personal information: masking for display, field encryption at rest, blind indexes, phones.

Masking (standards.md §7.3; no national digit rule exists, so these are our documented choice):

- ID number: keep the 4-digit area prefix and the last 4 characters, ``1101**********123X``.
  This always hides the birth date (characters 7-14) and the county.
- Phone: mobile ``138****1234``; landline ``010-****1234`` (area code and last 4 kept).
- Name: ``张*``, ``李*明``, ``欧**明``: first and (for 3+ characters) last character kept.

Encryption at rest is AES-256-GCM with a random 96-bit nonce per value. A sealed value
("token") is ``version (1 byte) || nonce (12) || ciphertext || tag (16)``. The version byte
names the master key that sealed it, so keys can be rotated: a `FieldCipher` seals with its
current key and opens tokens of any key it was given (`FieldCipher.needs_rotation`,
`FieldCipher.rotate`). The optional ``column`` is authenticated data: a value copied into
another column (say, a phone pasted into the ID-number column) fails to open rather than
being shown under the wrong label.

The blind index is HMAC-SHA256 under a sub-key derived (HKDF-SHA256) from the master key for
that purpose only, so an ID number can be matched and deduplicated without decrypting, and
the index key can decrypt nothing. It is deterministic per key, which is what makes it
searchable: it reveals equality, nothing else. Rotating the master key changes every index,
so re-index when rotating.

The token layout and derivations are those of the interim module the resident register was
first written against (key version 1), so values it already stored stay readable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gis.errors import DecryptionError, InvalidPhoneError, SecretKeyError

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
_ENCRYPTION_INFO: Final = b"gridgis field encryption v1"
_INDEX_INFO: Final = b"gridgis blind index v1"


# ------------------------------------------------------------------------------------- masking
def mask_id_number(value: str) -> str:
    """Return an ID number with all but the first 4 and last 4 characters hidden.

    Examples
    --------
    >>> mask_id_number("11010519491231002X")
    '1101**********002X'
    >>> mask_id_number("1234567")
    '*******'
    """
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    """Return a phone with its middle hidden: ``138****1234`` or ``010-****1234``.

    Examples
    --------
    >>> mask_phone("13812341234")
    '138****1234'
    >>> mask_phone("010-62751234")
    '010-****1234'
    """
    if "-" in value:
        area, _, local = value.partition("-")
        hidden = "*" * max(len(local) - 4, 0) + local[-4:] if len(local) > 4 else "*" * len(local)
        return f"{area}-{hidden}"
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """Return a name with only its first (and, for 3+ characters, last) character shown.

    Examples
    --------
    >>> mask_name("张三"), mask_name("李小明"), mask_name("欧阳小明")
    ('张*', '李*明', '欧**明')
    """
    if len(value) <= 1:
        return "*" * len(value)
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


# -------------------------------------------------------------------------------------- phones
_MOBILE: Final = re.compile(r"1[3-9][0-9]{9}")
# 010 and 020-029 are the only 3-digit area codes; all others have 4 digits (0xxx).
_LANDLINE: Final = re.compile(r"(0(?:10|2[0-9])|0[3-9][0-9]{2})([2-9][0-9]{6,7})")
_PHONE_JUNK: Final = re.compile(r"[\s\-()（）]")


def normalise_phone(raw: str) -> str:
    """Return a mainland phone number in canonical form, or raise InvalidPhoneError.

    Mobiles become 11 digits (``13812341234``; a ``+86``/``0086`` prefix is dropped).
    Landlines become ``area-local`` (``010-62751234``); the area code is required, because a
    bare 8-digit number cannot be dialled across cities and is ambiguous in a city register.

    Examples
    --------
    >>> normalise_phone("+86 138 1234 1234"), normalise_phone("(010)6275-1234")
    ('13812341234', '010-62751234')
    """
    text = _PHONE_JUNK.sub("", unicodedata.normalize("NFKC", raw))
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    if _MOBILE.fullmatch(text):
        return text
    landline = _LANDLINE.fullmatch(text)
    if landline is not None:
        area, local = landline.groups()
        if len(area) == 3 and len(local) != 8:
            raise InvalidPhoneError(f"a landline in area {area} has 8 digits, got {len(local)}")
        return f"{area}-{local}"
    raise InvalidPhoneError(
        f"{mask_phone(text)!r} is neither a mainland mobile (1[3-9] + 9 digits) "
        "nor a landline with area code (0xx-xxxxxxxx or 0xxx-xxxxxxx)"
    )


def is_valid_phone(raw: str) -> bool:
    """Return True when `normalise_phone` accepts ``raw``."""
    try:
        normalise_phone(raw)
    except InvalidPhoneError:
        return False
    return True


# ------------------------------------------------------------------------------------------ keys
def generate_key() -> str:
    """Return a new random 256-bit master key, base64-encoded (for settings or a key file)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def load_key(b64: str, *, origin: str = "the key") -> bytes:
    """Return the 32 bytes of a base64 master key, or raise SecretKeyError naming `origin`.

    Examples
    --------
    >>> len(load_key(generate_key()))
    32
    """
    try:
        key = base64.b64decode(b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretKeyError(f"{origin} is not valid base64: {exc}") from None
    if len(key) != KEY_BYTES:
        raise SecretKeyError(
            f"{origin} must decode to {KEY_BYTES} bytes (AES-256), got {len(key)}; "
            "make one with gis.privacy.generate_key()"
        )
    return key


def _check_key(key: bytes, what: str) -> bytes:
    if len(key) != KEY_BYTES:
        raise SecretKeyError(f"{what} must be {KEY_BYTES} bytes, got {len(key)}")
    return key


def _subkey(master: bytes, info: bytes) -> bytes:
    """Derive a purpose-bound 32-byte key, so one master key never serves two purposes."""
    return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)


# ------------------------------------------------------------------------------------ cipher
class FieldCipher:
    """AES-256-GCM encryption of single text fields, with versioned keys for rotation.

    Parameters
    ----------
    key
        The current 32-byte master key; new tokens are sealed with it.
    version
        The current key's version, 1-255, written as the token's first byte.
    previous
        Older keys by version, still accepted by `decrypt` until every token is rotated.
    """

    def __init__(
        self, key: bytes, *, version: int = 1, previous: Mapping[int, bytes] | None = None
    ) -> None:
        if not 1 <= version <= 255:
            raise SecretKeyError(f"key version must be 1-255, got {version}")
        keys = {int(v): _check_key(k, f"key version {v}") for v, k in (previous or {}).items()}
        if version in keys:
            raise SecretKeyError(f"key version {version} is both current and previous")
        keys[version] = _check_key(key, "the current key")
        self.version = version
        self._aeads = {v: AESGCM(_subkey(k, _ENCRYPTION_INFO)) for v, k in keys.items()}

    def encrypt(self, value: str, *, column: str = "") -> bytes:
        """Return the token sealing ``value`` (UTF-8) under the current key."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aeads[self.version].encrypt(nonce, value.encode("utf-8"), column.encode())
        return bytes([self.version]) + nonce + sealed

    def decrypt(self, token: bytes, *, column: str = "") -> str:
        """Return the text sealed in ``token`` for ``column``.

        Raises
        ------
        DecryptionError
            If the token is too short, names a key version this cipher does not hold, was
            sealed with another key or for another column, or was altered in any byte.
        """
        token = bytes(token)  # psycopg hands bytea back as memoryview
        if len(token) < 1 + NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(f"token has {len(token)} bytes, too short to be sealed data")
        aead = self._aeads.get(token[0])
        if aead is None:
            raise DecryptionError(
                f"token was sealed with key version {token[0]}; "
                f"this cipher holds versions {sorted(self._aeads)}"
            )
        try:
            clear = aead.decrypt(
                token[1 : 1 + NONCE_BYTES], token[1 + NONCE_BYTES :], column.encode()
            )
        except InvalidTag:
            raise DecryptionError(
                f"token does not open with key version {token[0]}"
                + (f" for column {column!r}" if column else "")
                + ": wrong key, wrong column or altered bytes"
            ) from None
        return clear.decode("utf-8")

    def needs_rotation(self, token: bytes) -> bool:
        """Return True when ``token`` was sealed with an older key version."""
        return bytes(token[:1]) != bytes([self.version])

    def rotate(self, token: bytes, *, column: str = "") -> bytes:
        """Return ``token`` re-sealed under the current key (unchanged if already current)."""
        if not self.needs_rotation(token):
            return bytes(token)
        return self.encrypt(self.decrypt(token, column=column), column=column)


# ------------------------------------------------------------------------------- blind index
class BlindIndexer:
    """Keyed HMAC-SHA256 of values, for equality lookups on encrypted columns.

    The HMAC key is derived once from the master key, so indexing a large register costs one
    HMAC per value.
    """

    def __init__(self, key: bytes) -> None:
        self._key = _subkey(_check_key(key, "the master key"), _INDEX_INFO)

    def index(self, value: str) -> bytes:
        """Return the 32-byte index of ``value`` (normalise it first, e.g. upper-case ``X``)."""
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).digest()

    def index_many(self, values: Iterable[str]) -> list[bytes]:
        """Return the index of each value, in order."""
        key = self._key
        return [hmac.new(key, v.encode("utf-8"), hashlib.sha256).digest() for v in values]


def blind_index(key: bytes, value: str) -> bytes:
    """Return the blind index of ``value`` under master ``key`` (see `BlindIndexer`)."""
    return BlindIndexer(key).index(value)
