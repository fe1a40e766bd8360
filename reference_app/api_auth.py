"""Authentication endpoints: login, logout, active sessions, and API keys."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from reference_app import queries
from reference_app.api_common import (
    authenticated,
    client_ip,
    database,
    json_body,
    list_response,
    query_params,
)
from reference_app.auth import SESSION_COOKIE, digest, new_api_key, new_session_token
from reference_app.errors import NotFound, Unauthorized
from reference_app.params import PAGING, parse_id, require_fields
from reference_app.passwords import hash_password, verify_password
from reference_app.responses import json_response, page

__all__ = ["active_sessions", "create_api_key", "list_api_keys", "login", "logout", "revoke_api_key"]

# A wrong email costs as much as a wrong password, so timing does not reveal accounts: the
# dummy hash has the same scrypt parameters as every stored one (the defaults).
_DUMMY_HASH = hash_password("not-a-password", salt=b"studiohub-dummy!")
# Only these roles manage the organisation's API keys (the keys act for the whole organisation).
_KEY_MANAGERS = ("owner", "admin")


# --- authentication ---------------------------------------------------------------------


async def login(request: Request) -> Response:
    query_params(request, {})
    body = require_fields(await json_body(request), {"email": (str, 254), "password": (str, 1024)})
    email = body["email"].strip().lower()
    db = database(request)
    user = await db.fetch_one(queries.AUTH_USER_BY_EMAIL, {"email": email})
    stored = user["password_hash"] if user else _DUMMY_HASH
    valid = await asyncio.to_thread(verify_password, body["password"], stored)
    if user is None or not valid:
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    token = new_session_token()
    ttl_s = request.app.state.config.session_ttl_s
    async with db.transaction() as tx:
        session = await tx.fetch_one(
            queries.AUTH_SESSION_INSERT,
            {
                "user_id": user["id"],
                "token_hash": digest(token),
                "ttl_s": ttl_s,
                "ip_address": client_ip(request),
                "user_agent": request.headers.get("user-agent", "")[:256],
            },
        )
        await tx.execute(queries.AUTH_USER_TOUCH_LOGIN, {"user_id": user["id"]})
        await tx.execute(
            queries.AUDIT_LOG_INSERT,
            {
                "org_id": user["org_id"],
                "user_id": user["id"],
                "action": "login",
                "target_type": "session",
                "target_id": str(session["id"]) if session else None,
                "ip_address": client_ip(request),
            },
        )
    assert session is not None
    response = json_response(
        {
            "token": token,
            "token_type": "Bearer",
            "expires_at": session["expires_at"],
            "user": {key: user[key] for key in ("id", "org_id", "email", "display_name", "role")},
        }
    )
    response.set_cookie(SESSION_COOKIE, token, max_age=ttl_s, httponly=True, samesite="lax", path="/")
    return response


async def logout(request: Request) -> Response:
    caller = await authenticated(request)
    query_params(request, {})
    user_id = caller.require_user()
    async with database(request).transaction() as tx:
        await tx.execute(queries.AUTH_SESSION_REVOKE, {"session_id": caller.session_id})
        await tx.execute(
            queries.AUDIT_LOG_INSERT,
            {
                "org_id": caller.org_id,
                "user_id": user_id,
                "action": "logout",
                "target_type": "session",
                "target_id": str(caller.session_id),
                "ip_address": client_ip(request),
            },
        )
    response = json_response({"status": "logged_out"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def active_sessions(request: Request) -> Response:
    caller = await authenticated(request)
    params = query_params(request, PAGING)
    rows = await database(request).fetch_all(
        queries.AUTH_SESSIONS_ACTIVE_BY_USER, {**params, "user_id": caller.require_user()}
    )
    return json_response(page(rows, params))


# --- API keys -----------------------------------------------------------------------------


async def list_api_keys(request: Request) -> Response:
    return await list_response(request, queries.API_KEYS_ACTIVE_BY_ORG)


async def create_api_key(request: Request) -> Response:
    caller = await authenticated(request)
    query_params(request, {})
    user_id = caller.require_role(_KEY_MANAGERS, "creating an API key")
    body = require_fields(await json_body(request), {"name": (str, 64)})
    key = new_api_key()
    async with database(request).transaction() as tx:
        row = await tx.fetch_one(
            queries.API_KEY_INSERT,
            {
                "org_id": caller.org_id,
                "user_id": user_id,
                "name": body["name"],
                "key_prefix": key[:10],
                "key_hash": digest(key),
            },
        )
        assert row is not None
        await tx.execute(
            queries.AUDIT_LOG_INSERT,
            {
                "org_id": caller.org_id,
                "user_id": user_id,
                "action": "api_key.created",
                "target_type": "api_key",
                "target_id": str(row["id"]),
                "ip_address": client_ip(request),
            },
        )
    return json_response({**row, "key": key}, status=201)


async def revoke_api_key(request: Request) -> Response:
    caller = await authenticated(request)
    query_params(request, {})
    caller.require_role(_KEY_MANAGERS, "revoking an API key")
    key_id = parse_id("api_key_id", request.path_params["api_key_id"])
    async with database(request).transaction() as tx:
        row = await tx.fetch_one(queries.API_KEY_REVOKE, {"api_key_id": key_id, "org_id": caller.org_id})
        if row is None:
            raise NotFound(f"no active API key {key_id} in your organisation")
        await tx.execute(
            queries.AUDIT_LOG_INSERT,
            {
                "org_id": caller.org_id,
                "user_id": caller.user_id,
                "action": "api_key.revoked",
                "target_type": "api_key",
                "target_id": str(key_id),
                "ip_address": client_ip(request),
            },
        )
    return json_response({"id": key_id, "status": "revoked"})
