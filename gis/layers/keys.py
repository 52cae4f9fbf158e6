"""The secret key that protects resident data (encryption at rest and blind indexes).

Where the key comes from, in order:

1. ``GRIDGIS_SECRET_KEY`` (`Settings.gridgis_secret_key`): 32 random bytes, base64. Production
   sets this (from a secrets manager), so the key never sits next to the database files.
2. Otherwise the embedded default: ``GRIDGIS_HOME/secret.key``, one base64 line. The first
   call creates it with mode 600, atomically (two processes starting together end up with
   the same key: the loser reads the winner's file). A key file that group or others
   may read is refused, as ssh refuses such a private key.

Losing the key makes every encrypted ID number, phone and name unreadable, and changes every
blind index: back the file up with the database (but not in the same place).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from gis.errors import SecretKeyError
from gis.privacy import BlindIndexer, FieldCipher
from gis.settings import Settings

KEY_BYTES: Final = 32
KEY_FILE_NAME: Final = "secret.key"


def decode_key(text: str, *, origin: str = "GRIDGIS_SECRET_KEY") -> bytes:
    """Return the 32 key bytes of a base64 string, or raise SecretKeyError naming `origin`.

    Examples
    --------
    >>> len(decode_key(base64.b64encode(bytes(32)).decode()))
    32
    """
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretKeyError(f"{origin} is not valid base64: {exc}") from None
    if len(key) != KEY_BYTES:
        raise SecretKeyError(
            f"{origin} must decode to {KEY_BYTES} bytes, got {len(key)} "
            f"(make one with: python -c 'import secrets,base64;"
            f"print(base64.b64encode(secrets.token_bytes(32)).decode())')"
        )
    return key


def key_file(settings: Settings) -> Path:
    """Return where the embedded default keeps its key: ``GRIDGIS_HOME/secret.key``."""
    return settings.gridgis_home / KEY_FILE_NAME


def _read_key_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretKeyError(
            f"{path} is readable by group or others (mode {stat.filemode(mode)}); "
            f"run: chmod 600 {path}"
        )
    return decode_key(path.read_text(encoding="ascii"), origin=str(path))


def _create_key_file(path: Path) -> bytes:
    """Write a new random key with mode 600 unless another process got there first.

    The key is written to a private temporary file and then hard-linked into place: the link
    either creates a complete file or fails because one exists, so no reader ever sees a
    half-written key and two racing processes end up sharing one key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(base64.b64encode(key).decode("ascii") + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    except FileExistsError:
        return _read_key_file(path)
    finally:
        tmp.unlink(missing_ok=True)
    return key


def load_secret_key(settings: Settings) -> bytes:
    """Return the 32-byte master key for resident data (see the module docstring).

    Raises
    ------
    SecretKeyError
        If the configured key is not 32 bytes of base64, or the key file is unreadable,
        malformed or readable by group or others.
    """
    if settings.gridgis_secret_key:
        return decode_key(settings.gridgis_secret_key)
    path = key_file(settings)
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        return _create_key_file(path)
    except OSError as exc:
        raise SecretKeyError(f"cannot read the key file {path}: {exc.strerror}") from None


class ResidentCrypto:
    """Encryption and blind indexing of resident PI under one master key.

    Sub-keys for encryption and for the blind index are derived separately from the master
    key, so the index key cannot decrypt anything and vice versa.
    """

    def __init__(self, master: bytes) -> None:
        if len(master) != KEY_BYTES:
            raise SecretKeyError(f"the master key must be {KEY_BYTES} bytes, got {len(master)}")
        self._cipher = FieldCipher(master)
        self._indexer = BlindIndexer(master)

    @classmethod
    def from_key(cls, master: bytes) -> ResidentCrypto:
        """Build from the 32 key bytes (tests pass a fixed key)."""
        return cls(master)

    @classmethod
    def from_settings(cls, settings: Settings) -> ResidentCrypto:
        """Build from `load_secret_key` (GRIDGIS_SECRET_KEY or the embedded key file)."""
        return cls(load_secret_key(settings))

    def encrypt(self, value: str, *, column: str) -> bytes:
        """Seal ``value`` for ``column`` (AES-256-GCM, column name as authenticated data)."""
        return self._cipher.encrypt(value, column=column)

    def decrypt(self, blob: bytes, *, column: str) -> str:
        """Open a value sealed for ``column``."""
        return self._cipher.decrypt(blob, column=column)

    def index_id_number(self, id_number: str) -> bytes:
        """Return the blind index of a normalised (upper-case, stripped) ID number."""
        return self._indexer.index(id_number)
