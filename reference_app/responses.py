"""JSON responses: rows with datetimes and decimals rendered, errors in one shape."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from reference_app.errors import ApiError

__all__ = ["api_error_response", "json_response", "page"]


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, default=_default, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def page(items: list[dict], params: dict[str, Any]) -> dict[str, Any]:
    return {"items": items, "count": len(items), "limit": params["limit"], "offset": params["offset"]}


async def api_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_response(exc.body(), status=exc.status, headers=exc.headers())
