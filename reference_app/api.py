"""The JSON API: authentication, dashboard, insight, autopilot, guardian, analytics, admin.

Every handler authenticates first, then validates its parameters (unknown, repeated or
malformed ones get a 400 naming the parameter), then runs one named query from
reference_app.queries scoped to the caller's organisation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reference_app import queries
from reference_app.auth import SESSION_COOKIE, Principal, authenticate, digest, new_api_key, new_session_token
from reference_app.db import Database
from reference_app.errors import BadRequest, NotFound, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from reference_app.params import (
    PAGING,
    Param,
    datetime_param,
    enum_param,
    id_param,
    parse_id,
    parse_query,
    require_fields,
    text_param,
)
from reference_app.passwords import hash_password, verify_password
from reference_app.responses import json_response, page

__all__ = ["api_routes"]

SEVERITIES = ("critical", "high", "medium", "low", "info")
ISSUE_STATUSES = ("open", "acknowledged", "in_progress", "resolved", "ignored")
RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TEST_STATUSES = ("pending", "running", "passed", "failed", "error")
BUCKETS = {
    "hour": (timedelta(days=2), timedelta(days=31)),
    "day": (timedelta(days=30), timedelta(days=400)),
    "week": (timedelta(days=182), timedelta(days=800)),
}
MAX_BODY_BYTES = 16 * 1024
# A wrong email costs as much as a wrong password, so timing does not reveal accounts.
_DUMMY_HASH = hash_password("not-a-password", salt=b"studiohub-dummy!", n=2**12)


def _db(request: Request) -> Database:
    return request.app.state.db


async def _caller(request: Request) -> Principal:
    return await authenticate(request, _db(request))


def _query(request: Request, spec: Mapping[str, Param]) -> dict[str, Any]:
    return parse_query(request.query_params.multi_items(), spec)


async def _json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("send the request body as application/json")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise PayloadTooLarge(f"the request body must be at most {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the request body must be at most {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON body: {exc}".split("\n")[0][:200]) from None


async def _list(
    request: Request, sql: str, spec: Mapping[str, Param] | None = None, **fixed: Any
) -> Response:
    caller = await _caller(request)
    params = _query(request, {**(spec or {}), **PAGING})
    args = {**params, **fixed, "org_id": caller.org_id}
    rows = await _db(request).fetch_all(sql, args)
    return json_response(page(rows, params))


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- authentication ---------------------------------------------------------------------


async def login(request: Request) -> Response:
    _query(request, {})
    body = require_fields(await _json_body(request), {"email": (str, 254), "password": (str, 1024)})
    email = body["email"].strip().lower()
    db = _db(request)
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
                "ip_address": _client_ip(request),
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
                "ip_address": _client_ip(request),
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
    caller = await _caller(request)
    _query(request, {})
    user_id = caller.require_user()
    async with _db(request).transaction() as tx:
        await tx.execute(queries.AUTH_SESSION_REVOKE, {"session_id": caller.session_id})
        await tx.execute(
            queries.AUDIT_LOG_INSERT,
            {
                "org_id": caller.org_id,
                "user_id": user_id,
                "action": "logout",
                "target_type": "session",
                "target_id": str(caller.session_id),
                "ip_address": _client_ip(request),
            },
        )
    response = json_response({"status": "logged_out"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def active_sessions(request: Request) -> Response:
    caller = await _caller(request)
    params = _query(request, PAGING)
    rows = await _db(request).fetch_all(
        queries.AUTH_SESSIONS_ACTIVE_BY_USER, {**params, "user_id": caller.require_user()}
    )
    return json_response(page(rows, params))


# --- API keys -----------------------------------------------------------------------------


async def list_api_keys(request: Request) -> Response:
    return await _list(request, queries.API_KEYS_ACTIVE_BY_ORG)


async def create_api_key(request: Request) -> Response:
    caller = await _caller(request)
    _query(request, {})
    user_id = caller.require_user()
    body = require_fields(await _json_body(request), {"name": (str, 64)})
    key = new_api_key()
    async with _db(request).transaction() as tx:
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
                "ip_address": _client_ip(request),
            },
        )
    return json_response({**row, "key": key}, status=201)


async def revoke_api_key(request: Request) -> Response:
    caller = await _caller(request)
    _query(request, {})
    key_id = parse_id("api_key_id", request.path_params["api_key_id"])
    async with _db(request).transaction() as tx:
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
                "ip_address": _client_ip(request),
            },
        )
    return json_response({"id": key_id, "status": "revoked"})


# --- dashboard, organisations, projects, users ---------------------------------------------


async def dashboard_overview(request: Request) -> Response:
    caller = await _caller(request)
    _query(request, {})
    row = await _db(request).fetch_one(queries.DASHBOARD_OVERVIEW, {"org_id": caller.org_id})
    return json_response({"org_id": caller.org_id, **(row or {})})


_SLUG = text_param(1, 64, pattern=r"[a-z0-9][a-z0-9-]*", what="a slug (lower-case letters, digits, '-')")


async def organization(request: Request) -> Response:
    caller = await _caller(request)
    _query(request, {})
    slug = _SLUG.convert("slug", request.path_params["slug"])
    row = await _db(request).fetch_one(queries.ORGANIZATION_BY_SLUG, {"slug": slug})
    if row is None or row["id"] != caller.org_id:
        raise NotFound(f"no organisation {slug!r} among yours")
    return json_response(row)


async def project_by_slug(request: Request) -> Response:
    caller = await _caller(request)
    _query(request, {})
    slug = _SLUG.convert("slug", request.path_params["slug"])
    project_slug = _SLUG.convert("project_slug", request.path_params["project_slug"])
    db = _db(request)
    org = await db.fetch_one(queries.ORGANIZATION_BY_SLUG, {"slug": slug})
    if org is None or org["id"] != caller.org_id:
        raise NotFound(f"no organisation {slug!r} among yours")
    row = await db.fetch_one(queries.PROJECT_BY_ORG_SLUG, {"org_id": org["id"], "slug": project_slug})
    if row is None:
        raise NotFound(f"no project {project_slug!r} in organisation {slug!r}")
    return json_response(row)


async def list_projects(request: Request) -> Response:
    return await _list(request, queries.PROJECTS_BY_ORG)


async def list_users(request: Request) -> Response:
    return await _list(request, queries.USERS_BY_ORG)


# --- insight ---------------------------------------------------------------------------------


async def issues_recent(request: Request) -> Response:
    return await _list(request, queries.INSIGHT_ISSUES_RECENT_BY_ORG)


async def issues_unresolved(request: Request) -> Response:
    return await _list(
        request,
        queries.INSIGHT_ISSUES_UNRESOLVED_BY_SEVERITY,
        {"severity": enum_param(SEVERITIES, required=True)},
    )


async def issues_by_project(request: Request) -> Response:
    spec = {"project_id": id_param(), "status": enum_param(ISSUE_STATUSES, required=True)}
    return await _list(request, queries.INSIGHT_ISSUES_BY_PROJECT_STATUS, spec)


async def issues_by_detector(request: Request) -> Response:
    spec = {
        "detector": text_param(
            3, 64, pattern=r"[a-z0-9][a-z0-9/_.-]*", what="a detector id like security/xss"
        )
    }
    return await _list(request, queries.INSIGHT_ISSUES_BY_DETECTOR, spec)


def like_pattern(text: str) -> str:
    """'%text%' with LIKE wildcards in `text` escaped (backslash is the default escape)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def issues_search(request: Request) -> Response:
    caller = await _caller(request)
    # at least 3 characters: what a trigram index can serve
    params = _query(request, {"q": text_param(3, 100), **PAGING})
    args = {
        "org_id": caller.org_id,
        "pattern": like_pattern(params["q"]),
        "limit": params["limit"],
        "offset": params["offset"],
    }
    rows = await _db(request).fetch_all(queries.INSIGHT_ISSUES_FILE_PATH_SEARCH, args)
    return json_response({**page(rows, params), "q": params["q"]})


async def issue_detail(request: Request) -> Response:
    caller = await _caller(request)
    _query(request, {})
    issue_id = parse_id("issue_id", request.path_params["issue_id"])
    row = await _db(request).fetch_one(
        queries.INSIGHT_ISSUE_DETAIL, {"issue_id": issue_id, "org_id": caller.org_id}
    )
    if row is None:
        raise NotFound(f"no issue {issue_id} in your organisation")
    return json_response(row)


# --- autopilot ----------------------------------------------------------------------------


async def runs_by_org(request: Request) -> Response:
    return await _list(request, queries.AUTOPILOT_RUNS_BY_ORG)


async def runs_by_status(request: Request) -> Response:
    return await _list(
        request, queries.AUTOPILOT_RUNS_BY_STATUS, {"status": enum_param(RUN_STATUSES, required=True)}
    )


async def runs_by_project(request: Request) -> Response:
    spec = {"project_id": id_param(), "status": enum_param(RUN_STATUSES, required=True)}
    return await _list(request, queries.AUTOPILOT_RUNS_BY_PROJECT_STATUS, spec)


async def runs_by_user(request: Request) -> Response:
    caller = await _caller(request)
    params = _query(request, {"user_id": id_param(required=False), **PAGING})
    user_id = params["user_id"] or caller.user_id
    if user_id is None:
        raise BadRequest(
            "query parameter 'user_id' is required when calling with an API key", field="user_id"
        )
    rows = await _db(request).fetch_all(
        queries.AUTOPILOT_RUNS_BY_USER, {**params, "user_id": user_id, "org_id": caller.org_id}
    )
    return json_response(page(rows, params))


async def run_status(request: Request) -> Response:
    caller = await _caller(request)
    _query(request, {})
    run_id = parse_id("run_id", request.path_params["run_id"])
    row = await _db(request).fetch_one(
        queries.AUTOPILOT_RUN_STATUS, {"run_id": run_id, "org_id": caller.org_id}
    )
    if row is None:
        raise NotFound(f"no autopilot run {run_id} in your organisation")
    return json_response(row)


async def start_run(request: Request) -> Response:
    caller = await _caller(request)
    _query(request, {})
    body = require_fields(await _json_body(request), {"project_id": (int, 0)})
    async with _db(request).transaction() as tx:
        row = await tx.fetch_one(
            queries.AUTOPILOT_RUN_INSERT,
            {"user_id": caller.user_id, "project_id": body["project_id"], "org_id": caller.org_id},
        )
        if row is None:
            raise NotFound(f"no active project {body['project_id']} in your organisation", field="project_id")
        await tx.execute(
            queries.AUDIT_LOG_INSERT,
            {
                "org_id": caller.org_id,
                "user_id": caller.user_id,
                "action": "autopilot.run_started",
                "target_type": "autopilot_run",
                "target_id": str(row["id"]),
                "ip_address": _client_ip(request),
            },
        )
    return json_response(row, status=201)


# --- guardian -------------------------------------------------------------------------------


async def tests_by_org(request: Request) -> Response:
    return await _list(request, queries.GUARDIAN_TESTS_BY_ORG)


async def tests_by_url(request: Request) -> Response:
    spec = {"url": text_param(8, 2048, pattern=r"https?://\S+", what="an http(s) URL")}
    return await _list(request, queries.GUARDIAN_TESTS_BY_URL, spec)


async def tests_by_project(request: Request) -> Response:
    return await _list(request, queries.GUARDIAN_TESTS_BY_PROJECT, {"project_id": id_param()})


async def tests_by_status(request: Request) -> Response:
    return await _list(
        request, queries.GUARDIAN_TESTS_BY_STATUS, {"status": enum_param(TEST_STATUSES, required=True)}
    )


# --- analytics ------------------------------------------------------------------------------

_TIMESERIES: dict[str, Param] = {
    "bucket": enum_param(tuple(BUCKETS), "day"),
    "from": datetime_param(),
    "to": datetime_param(),
    "event_type": text_param(
        1, 64, pattern=r"[a-z][a-z0-9_.]*", required=False, what="an event type like page_view"
    ),
}


def time_range(params: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """[start, end) from the from/to parameters, defaulted and bounded per bucket size."""
    default_span, max_span = BUCKETS[params["bucket"]]
    end = params["to"] or now
    start = params["from"] or end - default_span
    if start >= end:
        raise BadRequest("'from' must be earlier than 'to'", field="from")
    if end - start > max_span:
        raise BadRequest(
            f"a {params['bucket']} series covers at most {max_span.days} days;"
            " narrow 'from'/'to' or use a larger bucket",
            field="from",
        )
    return start, end


async def _timeseries(request: Request, sql: str, spec: Mapping[str, Param]) -> Response:
    caller = await _caller(request)
    params = _query(request, spec)
    start, end = time_range(params, datetime.now(UTC))
    args = {
        "org_id": caller.org_id,
        "bucket": params["bucket"],
        "start": start,
        "end": end,
        "event_type": params["event_type"],
        "project_id": params.get("project_id"),
    }
    rows = await _db(request).fetch_all(sql, args)
    return json_response(
        {
            "bucket": params["bucket"],
            "from": start,
            "to": end,
            "event_type": params["event_type"],
            "project_id": params.get("project_id"),
            "points": rows,
        }
    )


async def timeseries_by_org(request: Request) -> Response:
    return await _timeseries(request, queries.ANALYTICS_TIMESERIES_BY_ORG, _TIMESERIES)


async def timeseries_by_project(request: Request) -> Response:
    return await _timeseries(
        request, queries.ANALYTICS_TIMESERIES_BY_PROJECT, {**_TIMESERIES, "project_id": id_param()}
    )


# --- audit ---------------------------------------------------------------------------------


async def audit_by_org(request: Request) -> Response:
    return await _list(request, queries.AUDIT_LOGS_BY_ORG)


async def audit_by_user(request: Request) -> Response:
    return await _list(request, queries.AUDIT_LOGS_BY_USER, {"user_id": id_param()})


async def audit_by_action(request: Request) -> Response:
    spec = {
        "action": text_param(1, 64, pattern=r"[a-z][a-z_.]*", what="an action like login or api_key.created")
    }
    return await _list(request, queries.AUDIT_LOGS_BY_ACTION, spec)


def api_routes() -> list[Route]:
    return [
        Route("/api/auth/login", login, methods=["POST"]),
        Route("/api/auth/logout", logout, methods=["POST"]),
        Route("/api/auth/sessions", active_sessions),
        Route("/api/api-keys", list_api_keys),
        Route("/api/api-keys", create_api_key, methods=["POST"]),
        Route("/api/api-keys/{api_key_id}", revoke_api_key, methods=["DELETE"]),
        Route("/api/dashboard/overview", dashboard_overview),
        Route("/api/organizations/{slug}", organization),
        Route("/api/organizations/{slug}/projects/{project_slug}", project_by_slug),
        Route("/api/projects", list_projects),
        Route("/api/users", list_users),
        Route("/api/insight/issues", issues_recent),
        Route("/api/insight/issues/unresolved", issues_unresolved),
        Route("/api/insight/issues/by-project", issues_by_project),
        Route("/api/insight/issues/by-detector", issues_by_detector),
        Route("/api/insight/issues/search", issues_search),
        Route("/api/insight/issues/{issue_id}", issue_detail),
        Route("/api/autopilot/runs", runs_by_org),
        Route("/api/autopilot/runs", start_run, methods=["POST"]),
        Route("/api/autopilot/runs/by-status", runs_by_status),
        Route("/api/autopilot/runs/by-project", runs_by_project),
        Route("/api/autopilot/runs/by-user", runs_by_user),
        Route("/api/autopilot/runs/{run_id}", run_status),
        Route("/api/guardian/tests", tests_by_org),
        Route("/api/guardian/tests/by-url", tests_by_url),
        Route("/api/guardian/tests/by-project", tests_by_project),
        Route("/api/guardian/tests/by-status", tests_by_status),
        Route("/api/analytics/timeseries", timeseries_by_org),
        Route("/api/analytics/timeseries/by-project", timeseries_by_project),
        Route("/api/audit-logs", audit_by_org),
        Route("/api/audit-logs/by-user", audit_by_user),
        Route("/api/audit-logs/by-action", audit_by_action),
    ]
