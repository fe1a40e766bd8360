from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reference_app.api import like_pattern, time_range
from reference_app.errors import BadRequest
from reference_app.params import (
    PAGING,
    datetime_param,
    enum_param,
    id_param,
    int_param,
    parse_id,
    parse_query,
    require_fields,
    text_param,
)


def test_defaults_fill_in_and_values_convert() -> None:
    spec = {"severity": enum_param(("high", "low"), required=True), **PAGING}
    assert parse_query([("severity", "high")], spec) == {"severity": "high", "limit": 50, "offset": 0}
    assert parse_query([("severity", "low"), ("limit", "7"), ("offset", "3")], spec)["limit"] == 7


@pytest.mark.parametrize(
    ("items", "field", "fragment"),
    [
        ([("bogus", "1")], "bogus", "unknown query parameter"),
        ([("limit", "5"), ("limit", "6")], "limit", "more than once"),
        ([], "severity", "required"),
        ([("severity", "urgent")], "severity", "one of high, low"),
        ([("severity", "high"), ("limit", "0")], "limit", "from 1 to 100"),
        ([("severity", "high"), ("limit", "1.5")], "limit", "whole number"),
        ([("severity", "high"), ("offset", "10001")], "offset", "from 0 to 10000"),
    ],
)
def test_bad_parameters_name_the_field(items: list, field: str, fragment: str) -> None:
    spec = {"severity": enum_param(("high", "low"), required=True), **PAGING}
    with pytest.raises(BadRequest) as caught:
        parse_query(items, spec)
    assert caught.value.field == field and fragment in caught.value.message


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1e3", "٣", "9223372036854775808", "", " 1"])
def test_malformed_ids_are_rejected(raw: str) -> None:
    with pytest.raises(BadRequest):
        parse_id("issue_id", raw)


def test_largest_bigint_id_is_accepted() -> None:
    assert parse_id("x", "9223372036854775807") == 2**63 - 1
    assert id_param().convert("x", "42") == 42


def test_int_text_and_datetime_params() -> None:
    assert int_param(0, 10).convert("n", "-0") == 0
    with pytest.raises(BadRequest):
        text_param(3, 5).convert("q", "ab")
    with pytest.raises(BadRequest, match="an http"):
        text_param(1, 50, pattern=r"https?://\S+", what="an http(s) URL").convert("url", "ftp://x")
    parse = datetime_param().convert
    assert parse("t", "2026-11-01T00:00:00Z") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse("t", "2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(BadRequest, match="ISO-8601"):
        parse("t", "yesterday")


def test_require_fields() -> None:
    assert require_fields({"name": "ci"}, {"name": (str, 64)}) == {"name": "ci"}
    for body, fragment in (
        ([], "JSON object"),
        ({}, "required"),
        ({"name": "x", "extra": 1}, "unknown field"),
        ({"name": ""}, "1 to 64"),
        ({"name": "x" * 65}, "1 to 64"),
    ):
        with pytest.raises(BadRequest, match=fragment):
            require_fields(body, {"name": (str, 64)})
    for value in (True, "3", 0, 2**63):
        with pytest.raises(BadRequest, match="positive integer"):
            require_fields({"project_id": value}, {"project_id": (int, 0)})


def test_like_pattern_escapes_wildcards() -> None:
    assert like_pattern("rate_limit") == "%rate\\_limit%"
    assert like_pattern("100%") == "%100\\%%"
    assert like_pattern("a\\b") == "%a\\\\b%"


def test_time_range_defaults_and_bounds() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    start, end = time_range({"bucket": "day", "from": None, "to": None}, now)
    assert (start, end) == (now - timedelta(days=30), now)
    with pytest.raises(BadRequest, match="earlier"):
        time_range({"bucket": "day", "from": now, "to": now}, now)
    with pytest.raises(BadRequest, match="at most 31 days"):
        time_range({"bucket": "hour", "from": now - timedelta(days=40), "to": None}, now)


def test_nul_characters_and_far_off_years_are_rejected_before_the_database() -> None:
    with pytest.raises(BadRequest, match="NUL"):
        parse_query([("q", "ab\x00c")], {"q": text_param(3, 100)})
    with pytest.raises(BadRequest, match="NUL"):
        require_fields({"name": "a\x00"}, {"name": (str, 64)})
    for raw in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        with pytest.raises(BadRequest, match="years 1970 to 2200"):
            datetime_param().convert("to", raw)
