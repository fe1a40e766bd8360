"""Helpers every API handler uses: the database, the caller, parameters, JSON bodies, lists."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from reference_app.auth import Principal, authenticate
from reference_app.db import Database
from reference_app.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from reference_app.params import PAGING, Param, parse_query
from reference_app.responses import json_response, page

__all__ = [
    "MAX_BODY_BYTES",
    "authenticated",
    "client_ip",
    "database",
    "json_body",
    "list_response",
    "query_params",
]

MAX_BODY_BYTES = 16 * 1024


def database(request: Request) -> Database:
    return request.app.state.db


async def authenticated(request: Request) -> Principal:
    return await authenticate(request, database(request))


def query_params(request: Request, spec: Mapping[str, Param]) -> dict[str, Any]:
    return parse_query(request.query_params.multi_items(), spec)


async def json_body(request: Request) -> Any:
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


async def list_response(
    request: Request, sql: str, spec: Mapping[str, Param] | None = None, **fixed: Any
) -> Response:
    caller = await authenticated(request)
    params = query_params(request, {**(spec or {}), **PAGING})
    args = {**params, **fixed, "org_id": caller.org_id}
    rows = await database(request).fetch_all(sql, args)
    return json_response(page(rows, params))


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
