"""Passwords (argon2id) and the token signing secret kept in the data dir."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SECRET_FILE = "secret_key"


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    """argon2id with OWASP's minimum parameters (19 MiB, 2 passes): safe and quick on 2 cores."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return hasher().hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    """Check ``password``; with no hash, verify against a dummy so timing does not tell."""
    try:
        return hasher().verify(hashed or _dummy_hash(), password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def load_or_create_secret(data_dir: Path) -> str:
    """The signing secret: created once (mode 0600) so tokens survive restarts."""
    path = data_dir / SECRET_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process won the race; use its secret.
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret)
    return secret
