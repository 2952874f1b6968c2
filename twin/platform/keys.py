"""API keys: random secrets shown once, stored only as a SHA-256 hash, each with one role.

A key looks like ``ltw_<prefix>_<secret>``; the prefix finds the row, the hash proves the key.
SHA-256 (not a slow password hash) is right here because the secret carries 256 bits of entropy.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from twin.core.errors import Forbidden, InvalidParameter, NotFound, Unauthorized
from twin.platform import keys_store as store
from twin.platform.tables import ROLES

_KEY_RE = re.compile(r"^ltw_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Principal:
    """Who made a request: the key's id, name and role."""

    key_id: int
    name: str
    role: str

    def may(self, role: str) -> bool:
        return self.role == role or self.role == "admin"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return f"ltw_{prefix}_{secrets.token_urlsafe(32)}", prefix


def create_key(conn: Connection, name: str, role: str) -> tuple[str, dict[str, Any]]:
    """Create a key; returns (the key itself — shown once, never stored —, its row)."""
    if role not in ROLES:
        raise InvalidParameter(f"unknown role {role!r}; choose one of {', '.join(ROLES)}", parameter="role")
    if not name.strip():
        raise InvalidParameter("a key needs a non-empty name", parameter="name")
    key, prefix = new_key()
    return key, store.insert_key(conn, name=name.strip(), prefix=prefix, key_hash=_hash(key), role=role)


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    """Every key's row (never the keys themselves)."""
    return store.list_keys(conn)


def revoke_key(conn: Connection, key_id_or_prefix: str) -> datetime:
    """Revoke by prefix (12 hex digits, as `keys list` shows) or by numeric id."""
    if re.fullmatch(r"[0-9a-f]{12}", key_id_or_prefix):
        revoked = store.revoke(conn, prefix=key_id_or_prefix)
    elif re.fullmatch(r"[0-9]{1,18}", key_id_or_prefix):
        revoked = store.revoke(conn, key_id=int(key_id_or_prefix))
    else:
        raise InvalidParameter(
            f"{key_id_or_prefix!r} is neither a key id nor a 12-digit key prefix", parameter="key"
        )
    if revoked is None:
        raise NotFound(f"no API key with id or prefix {key_id_or_prefix!r}")
    return revoked


async def authenticate(conn: AsyncConnection, key: str | None) -> Principal:
    """The principal behind a presented key, or Unauthorized. Never logs or echoes the key."""
    if not key:
        raise Unauthorized("this request needs an API key: send `Authorization: Bearer <key>`")
    match = _KEY_RE.match(key)
    if match is None:
        raise Unauthorized("the API key is malformed")
    row = await store.find_key(conn, match.group(1))
    if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
        raise Unauthorized("the API key is not known")
    if row.revoked_at is not None:
        raise Unauthorized("the API key has been revoked")
    await store.mark_used(conn, int(row.id))
    return Principal(key_id=int(row.id), name=row.name, role=row.role)


def require_role(principal: Principal, role: str) -> None:
    if not principal.may(role):
        raise Forbidden(
            f"this request needs the {role!r} role (or 'admin'); the key {principal.name!r} has "
            f"{principal.role!r}"
        )
