"""Who is calling: a session token (Authorization: Bearer, or the session cookie) or an API key.

Tokens and keys are random strings; only their sha256 digests are stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass

from starlette.requests import Request

from reference_app import queries
from reference_app.db import Database
from reference_app.errors import Forbidden, Unauthorized

__all__ = ["SESSION_COOKIE", "Principal", "authenticate", "digest", "new_api_key", "new_session_token"]

SESSION_COOKIE = "studiohub_session"
_MAX_CREDENTIAL_LEN = 256


@dataclass(frozen=True)
class Principal:
    org_id: int
    user_id: int | None
    session_id: int | None = None
    api_key_id: int | None = None
    role: str | None = None  # the user's role (owner, admin, member, viewer); None for an API key

    def require_user(self) -> int:
        if self.user_id is None or self.session_id is None:
            raise Forbidden("this endpoint needs a user session (log in), not an API key")
        return self.user_id

    def require_role(self, roles: Collection[str], action: str) -> int:
        """The user id, or Forbidden unless a user session with one of `roles` is calling."""
        user_id = self.require_user()
        if self.role not in roles:
            raise Forbidden(f"{action} needs the role {' or '.join(roles)}; yours is {self.role}")
        return user_id


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_session_token() -> str:
    return "shs_" + secrets.token_urlsafe(32)


def new_api_key() -> str:
    return "ohk_" + secrets.token_urlsafe(32)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'", code="invalid_credentials")
    return value.strip()


async def authenticate(request: Request, db: Database) -> Principal:
    """The caller, or Unauthorized when the credentials are missing, unknown or expired.

    Explicit credentials win over the browser's session cookie: Authorization: Bearer, then
    X-API-Key, then the cookie.
    """
    token = _bearer(request)
    api_key = request.headers.get("x-api-key")
    if token is None and not api_key:
        token = request.cookies.get(SESSION_COOKIE)
    if token:
        if len(token) > _MAX_CREDENTIAL_LEN:
            raise Unauthorized("invalid or expired session token", code="invalid_credentials")
        row = await db.fetch_one(queries.AUTH_SESSION_BY_TOKEN, {"token_hash": digest(token)}, auth=True)
        if row is None:
            raise Unauthorized("invalid or expired session token", code="invalid_credentials")
        return Principal(
            org_id=row["org_id"], user_id=row["user_id"], session_id=row["session_id"], role=row["role"]
        )
    if api_key:
        if len(api_key) > _MAX_CREDENTIAL_LEN:
            raise Unauthorized("invalid or revoked API key", code="invalid_credentials")
        row = await db.fetch_one(queries.AUTH_API_KEY_BY_HASH, {"key_hash": digest(api_key)}, auth=True)
        if row is None:
            raise Unauthorized("invalid, revoked or expired API key", code="invalid_credentials")
        return Principal(org_id=row["org_id"], user_id=None, api_key_id=row["api_key_id"])
    raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key'")
