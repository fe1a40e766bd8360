from __future__ import annotations

import struct

import pytest

from reference_app.pages import render_dashboard
from reference_app.passwords import hash_password, verify_password
from reference_app.static_assets import ASSETS, _build, etag_matches


def test_assets_are_rebuilt_byte_for_byte() -> None:
    again = _build()
    assert {p: a.etag for p, a in again.items()} == {p: a.etag for p, a in ASSETS.items()}


def test_hero_is_a_valid_png_of_the_declared_size() -> None:
    body = ASSETS["img/hero.png"].body
    assert body.startswith(b"\x89PNG\r\n\x1a\n") and body[12:16] == b"IHDR"
    assert struct.unpack(">II", body[16:24]) == (960, 360)


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"a"', True),
        ('W/"a"', True),
        ('"b", "a"', True),
        ("*", True),
        ('"b"', False),
        ("", False),
        ("a", False),
    ],
)
def test_if_none_match_uses_weak_comparison(header: str, matches: bool) -> None:
    assert etag_matches(header, '"a"') is matches


def test_dashboard_variants() -> None:
    standard = render_dashboard("standard", 1500)
    slow = render_dashboard("slow", 2500)
    assert '<img class="hero"' in standard and 'id="hero-slot"' not in standard
    assert '<img class="hero"' not in slow and 'id="hero-slot"' in slow and 'data-delay-ms="2500"' in slow
    for path in ASSETS:
        if path != "img/hero.png":
            assert f"/static/{path}?v=" in standard


def test_passwords_verify_only_the_right_one() -> None:
    encoded = hash_password("correct horse", n=2**10)
    assert encoded.startswith("scrypt$1024$8$1$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("wrong", encoded)
    for broken in ("", "scrypt$x", "bcrypt$1$2$3$4$5", encoded.replace("$8$", "$zz$")):
        assert not verify_password("correct horse", broken)
    assert hash_password("x", salt=b"s" * 16, n=2**10) == hash_password("x", salt=b"s" * 16, n=2**10)
