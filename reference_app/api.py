"""The JSON API: dashboard, insight, autopilot, guardian, analytics, admin (auth: api_auth).

Every handler authenticates first, then validates its parameters (unknown, repeated or
malformed ones get a 400 naming the parameter), then runs one named query from
reference_app.queries scoped to the caller's organisation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reference_app import queries
from reference_app.api_auth import (
    active_sessions,
    create_api_key,
    list_api_keys,
    login,
    logout,
    revoke_api_key,
)
from reference_app.api_common import (
    authenticated,
    client_ip,
    database,
    json_body,
    list_response,
    query_params,
)
from reference_app.errors import BadRequest, NotFound
from reference_app.params import (
    PAGING,
    Param,
    datetime_param,
    enum_param,
    id_param,
    parse_id,
    require_fields,
    text_param,
)
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

# --- dashboard, organisations, projects, users ---------------------------------------------


async def dashboard_overview(request: Request) -> Response:
    caller = await authenticated(request)
    query_params(request, {})
    row = await database(request).fetch_one(queries.DASHBOARD_OVERVIEW, {"org_id": caller.org_id})
    return json_response({"org_id": caller.org_id, **(row or {})})


_SLUG = text_param(1, 64, pattern=r"[a-z0-9][a-z0-9-]*", what="a slug (lower-case letters, digits, '-')")


async def organization(request: Request) -> Response:
    caller = await authenticated(request)
    query_params(request, {})
    slug = _SLUG.convert("slug", request.path_params["slug"])
    row = await database(request).fetch_one(queries.ORGANIZATION_BY_SLUG, {"slug": slug})
    if row is None or row["id"] != caller.org_id:
        raise NotFound(f"no organisation {slug!r} among yours")
    return json_response(row)


async def project_by_slug(request: Request) -> Response:
    caller = await authenticated(request)
    query_params(request, {})
    slug = _SLUG.convert("slug", request.path_params["slug"])
    project_slug = _SLUG.convert("project_slug", request.path_params["project_slug"])
    db = database(request)
    org = await db.fetch_one(queries.ORGANIZATION_BY_SLUG, {"slug": slug})
    if org is None or org["id"] != caller.org_id:
        raise NotFound(f"no organisation {slug!r} among yours")
    row = await db.fetch_one(queries.PROJECT_BY_ORG_SLUG, {"org_id": org["id"], "slug": project_slug})
    if row is None:
        raise NotFound(f"no project {project_slug!r} in organisation {slug!r}")
    return json_response(row)


async def list_projects(request: Request) -> Response:
    return await list_response(request, queries.PROJECTS_BY_ORG)


async def list_users(request: Request) -> Response:
    return await list_response(request, queries.USERS_BY_ORG)


# --- insight ---------------------------------------------------------------------------------


async def issues_recent(request: Request) -> Response:
    return await list_response(request, queries.INSIGHT_ISSUES_RECENT_BY_ORG)


async def issues_unresolved(request: Request) -> Response:
    return await list_response(
        request,
        queries.INSIGHT_ISSUES_UNRESOLVED_BY_SEVERITY,
        {"severity": enum_param(SEVERITIES, required=True)},
    )


async def issues_by_project(request: Request) -> Response:
    spec = {"project_id": id_param(), "status": enum_param(ISSUE_STATUSES, required=True)}
    return await list_response(request, queries.INSIGHT_ISSUES_BY_PROJECT_STATUS, spec)


async def issues_by_detector(request: Request) -> Response:
    spec = {
        "detector": text_param(
            3, 64, pattern=r"[a-z0-9][a-z0-9/_.-]*", what="a detector id like security/xss"
        )
    }
    return await list_response(request, queries.INSIGHT_ISSUES_BY_DETECTOR, spec)


def like_pattern(text: str) -> str:
    """'%text%' with LIKE wildcards in `text` escaped (backslash is the default escape)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def issues_search(request: Request) -> Response:
    caller = await authenticated(request)
    # at least 3 characters: what a trigram index can serve
    params = query_params(request, {"q": text_param(3, 100), **PAGING})
    args = {
        "org_id": caller.org_id,
        "pattern": like_pattern(params["q"]),
        "limit": params["limit"],
        "offset": params["offset"],
    }
    rows = await database(request).fetch_all(queries.INSIGHT_ISSUES_FILE_PATH_SEARCH, args)
    return json_response({**page(rows, params), "q": params["q"]})


async def _detail(request: Request, sql: str, id_name: str, what: str) -> Response:
    """One row by its id from the path, 404 when it is not the caller's organisation's."""
    caller = await authenticated(request)
    query_params(request, {})
    item_id = parse_id(id_name, request.path_params[id_name])
    row = await database(request).fetch_one(sql, {id_name: item_id, "org_id": caller.org_id})
    if row is None:
        raise NotFound(f"no {what} {item_id} in your organisation")
    return json_response(row)


async def issue_detail(request: Request) -> Response:
    return await _detail(request, queries.INSIGHT_ISSUE_DETAIL, "issue_id", "issue")


# --- autopilot ----------------------------------------------------------------------------


async def runs_by_org(request: Request) -> Response:
    return await list_response(request, queries.AUTOPILOT_RUNS_BY_ORG)


async def runs_by_status(request: Request) -> Response:
    return await list_response(
        request, queries.AUTOPILOT_RUNS_BY_STATUS, {"status": enum_param(RUN_STATUSES, required=True)}
    )


async def runs_by_project(request: Request) -> Response:
    spec = {"project_id": id_param(), "status": enum_param(RUN_STATUSES, required=True)}
    return await list_response(request, queries.AUTOPILOT_RUNS_BY_PROJECT_STATUS, spec)


async def runs_by_user(request: Request) -> Response:
    caller = await authenticated(request)
    params = query_params(request, {"user_id": id_param(required=False), **PAGING})
    user_id = params["user_id"] or caller.user_id
    if user_id is None:
        raise BadRequest(
            "query parameter 'user_id' is required when calling with an API key", field="user_id"
        )
    rows = await database(request).fetch_all(
        queries.AUTOPILOT_RUNS_BY_USER, {**params, "user_id": user_id, "org_id": caller.org_id}
    )
    return json_response(page(rows, params))


async def run_status(request: Request) -> Response:
    return await _detail(request, queries.AUTOPILOT_RUN_STATUS, "run_id", "autopilot run")


async def start_run(request: Request) -> Response:
    caller = await authenticated(request)
    query_params(request, {})
    body = require_fields(await json_body(request), {"project_id": (int, 0)})
    async with database(request).transaction() as tx:
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
                "ip_address": client_ip(request),
            },
        )
    return json_response(row, status=201)


# --- guardian -------------------------------------------------------------------------------


async def tests_by_org(request: Request) -> Response:
    return await list_response(request, queries.GUARDIAN_TESTS_BY_ORG)


async def tests_by_url(request: Request) -> Response:
    spec = {"url": text_param(8, 2048, pattern=r"https?://\S+", what="an http(s) URL")}
    return await list_response(request, queries.GUARDIAN_TESTS_BY_URL, spec)


async def tests_by_project(request: Request) -> Response:
    return await list_response(request, queries.GUARDIAN_TESTS_BY_PROJECT, {"project_id": id_param()})


async def tests_by_status(request: Request) -> Response:
    return await list_response(
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
    caller = await authenticated(request)
    params = query_params(request, spec)
    start, end = time_range(params, datetime.now(UTC))
    args = {
        "org_id": caller.org_id,
        "bucket": params["bucket"],
        "start": start,
        "end": end,
        "event_type": params["event_type"],
        "project_id": params.get("project_id"),
    }
    rows = await database(request).fetch_all(sql, args)
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
    return await list_response(request, queries.AUDIT_LOGS_BY_ORG)


async def audit_by_user(request: Request) -> Response:
    return await list_response(request, queries.AUDIT_LOGS_BY_USER, {"user_id": id_param()})


async def audit_by_action(request: Request) -> Response:
    spec = {
        "action": text_param(1, 64, pattern=r"[a-z][a-z_.]*", what="an action like login or api_key.created")
    }
    return await list_response(request, queries.AUDIT_LOGS_BY_ACTION, spec)


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
