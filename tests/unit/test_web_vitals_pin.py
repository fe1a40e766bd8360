"""scripts/web_vitals.env pins the web-vitals release that scripts/setup.sh caches and extracts.

These read the set-up's cache (.cache/web-vitals/): a missing tarball is a failure that says to
run the set-up, not a skip.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tarfile
from pathlib import Path

import pytest

from loadtests.suite.browser.driver import WEB_VITALS_CACHE, read_pin, web_vitals_library

PIN = read_pin()


def npm_integrity(path: Path) -> str:
    """npm's `dist.integrity` of a tarball: "sha512-" and the base64 of its SHA-512 digest."""
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


@pytest.fixture(scope="module")
def tarball() -> Path:
    path = WEB_VITALS_CACHE / f"web-vitals-{PIN['WEB_VITALS_VERSION']}.tgz"
    assert path.is_file(), f"{path} is missing: run `bash scripts/setup.sh`"
    return path


def test_the_pin_is_one_exact_6x_release_with_a_sha512_integrity():
    assert re.fullmatch(r"6\.\d+\.\d+", PIN["WEB_VITALS_VERSION"]), PIN["WEB_VITALS_VERSION"]
    assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", PIN["WEB_VITALS_INTEGRITY"]), PIN[
        "WEB_VITALS_INTEGRITY"
    ]


def test_the_cached_tarball_has_the_pinned_integrity(tarball):
    assert npm_integrity(tarball) == PIN["WEB_VITALS_INTEGRITY"]


def test_the_cached_tarball_is_the_pinned_package(tarball):
    with tarfile.open(tarball) as archive:
        manifest = json.load(archive.extractfile("package/package.json"))
    assert (manifest["name"], manifest["version"]) == ("web-vitals", PIN["WEB_VITALS_VERSION"])


def test_the_driver_injects_the_build_extracted_from_the_tarball(tarball):
    with tarfile.open(tarball) as archive:
        build = archive.extractfile(PIN["WEB_VITALS_BUILD"]).read()
    assert web_vitals_library().read_bytes() == build


def test_a_changed_tarball_no_longer_matches_the_pin(tarball, tmp_path):
    # The check the set-up makes, on a copy with one byte more: it must tell the two apart.
    tampered = tmp_path / tarball.name
    tampered.write_bytes(tarball.read_bytes() + b"\0")
    assert npm_integrity(tampered) != PIN["WEB_VITALS_INTEGRITY"]
