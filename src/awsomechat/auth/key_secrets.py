"""The encrypted copy of each API key that AWS SigV4 needs.

A SigV4 signature (``/kendra``) is an HMAC keyed by the secret access key, which here is the whole
API key; its SHA-256 alone cannot verify one. So each key also keeps a copy sealed with AES-GCM
under the installation's key-encryption key (KEK): ``api.key_encryption_key`` (base64 of 32 bytes,
the same on every replica) or, when that is unset, a file generated on first use in
``<data_dir>/secrets/`` (mode 0600; enough for one machine, not for replicas on several).

A sealed copy is ``version (1) | KEK id (8) | nonce (12) | ciphertext+tag``, authenticated together
with the key's row id: a copy moved to another row, or sealed under another KEK, does not open.
The KEK id lets a bearer authentication notice a copy sealed under an earlier KEK and seal it again.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from awsomechat.errors import ConfigError, MissingExtraError
from awsomechat.settings import Settings, decode_key_encryption_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

_VERSION = b"\x01"
_KEK_ID_LEN = 8
_NONCE_LEN = 12
_HEADER_LEN = 1 + _KEK_ID_LEN
KEK_FILE = "api-key-encryption.key"


def kek_id(kek: bytes) -> bytes:
    """A public name of a KEK (it reveals nothing of the key)."""
    return hashlib.sha256(b"awsomechat key-encryption key id\x00" + kek).digest()[:_KEK_ID_LEN]


class KeyBox:
    """Seals and opens API keys under one KEK. The KEK is loaded (or its file created) on first use."""

    def __init__(self, kek: bytes | None = None, *, kek_file: Path | None = None) -> None:
        if kek is None and kek_file is None:
            raise ValueError("a KEK or the file to keep one in is needed")
        self._kek = kek
        self._kek_file = kek_file
        self._lock = threading.Lock()
        self._aead: AESGCM | None = None
        self._id = b""

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyBox:
        configured = settings.api.key_encryption_key
        if configured is not None:
            return cls(decode_key_encryption_key(configured.get_secret_value()))
        return cls(kek_file=settings.data_dir / "secrets" / KEK_FILE)

    def _load(self) -> tuple[AESGCM, bytes]:
        with self._lock:
            if self._aead is None:
                try:
                    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
                except ImportError:  # pragma: no cover - a part of the server extra
                    raise MissingExtraError("SigV4 authentication (/kendra)", "server") from None
                kek = self._kek
                if kek is None:
                    assert self._kek_file is not None
                    kek = _file_kek(self._kek_file)
                self._aead, self._id = AESGCM(kek), kek_id(kek)
            return self._aead, self._id

    def seal(self, key: str, key_id: uuid.UUID) -> bytes:
        """The sealed copy of ``key`` for the row ``key_id``."""
        aead, kid = self._load()
        header = _VERSION + kid
        nonce = secrets.token_bytes(_NONCE_LEN)
        sealed = aead.encrypt(nonce, key.encode("utf-8"), header + key_id.bytes)
        return header + nonce + sealed

    def open(self, blob: bytes | None, key_id: uuid.UUID) -> str | None:
        """The key sealed in ``blob`` for ``key_id``; None when there is no copy, or it was sealed
        under another KEK or for another row, or was altered."""
        if not blob or len(blob) < _HEADER_LEN + _NONCE_LEN + 16:
            return None
        aead, kid = self._load()
        blob = bytes(blob)
        header, nonce = blob[:_HEADER_LEN], blob[_HEADER_LEN : _HEADER_LEN + _NONCE_LEN]
        sealed = blob[_HEADER_LEN + _NONCE_LEN :]
        if header != _VERSION + kid:
            return None
        from cryptography.exceptions import InvalidTag

        try:
            plain = aead.decrypt(nonce, sealed, header + key_id.bytes)
        except InvalidTag:
            return None
        return plain.decode("utf-8")

    def is_current(self, blob: bytes | None) -> bool:
        """Whether ``blob`` is a copy sealed under this box's KEK (without opening it)."""
        _, kid = self._load()
        return blob is not None and bytes(blob[:_HEADER_LEN]) == _VERSION + kid


def _file_kek(path: Path) -> bytes:
    """The KEK kept in ``path``, created (0600, in a 0700 directory) when missing. Several workers
    starting at once agree: the file appears whole or not at all (written aside, then linked)."""
    try:
        return _read_kek(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            log.info("generated the API key-encryption key in %s", path)
        except FileExistsError:
            pass  # another worker was first: its key is the one
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the API key-encryption key file {path}: {exc}",
            hint="set AWSOMECHAT_API__KEY_ENCRYPTION_KEY (base64 of 32 bytes) or make the data directory"
            " writable",
        ) from exc
    return _read_kek(path)


def _read_kek(path: Path) -> bytes:
    text = path.read_text().strip()
    try:
        return decode_key_encryption_key(text)
    except ValueError as exc:
        raise ConfigError(
            f"the API key-encryption key file {path} is damaged: it {exc}",
            hint="restore it from a backup; removing it makes every key's SigV4 copy unreadable until"
            " the key is next used with Bearer authentication",
        ) from exc
