"""tools/skipped_tests.py: the skip count scripts/test.sh prints, from a real pytest report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "skipped_tests.py"


def run_pytest(directory: Path, source: str) -> Path:
    """Run a throwaway test module with pytest (outside this project's configuration)."""
    (directory / "pytest.ini").write_text("[pytest]\n")
    (directory / "test_sample.py").write_text(source)
    report = directory / "report.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=directory,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return report


def skip_summary(report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), str(report)], capture_output=True, text=True, timeout=60, check=False
    )


def test_skips_are_counted_and_named(tmp_path):
    report = run_pytest(
        tmp_path,
        "import pytest\n\n"
        "def test_runs():\n    pass\n\n"
        "@pytest.mark.skip(reason='not on this machine')\n"
        "def test_skipped():\n    pass\n\n"
        "def test_skips_itself():\n    pytest.skip('no such thing')\n",
    )
    result = skip_summary(report)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "skipped tests: 2"
    assert sorted(lines[1:]) == [
        "  test_sample::test_skipped: not on this machine",
        "  test_sample::test_skips_itself: no such thing",
    ]


def test_no_skip_still_prints_the_count(tmp_path):
    report = run_pytest(tmp_path, "def test_runs():\n    pass\n")
    result = skip_summary(report)
    assert (result.returncode, result.stdout) == (0, "skipped tests: 0\n")


def test_a_missing_report_says_the_count_is_unknown(tmp_path):
    result = skip_summary(tmp_path / "absent.xml")
    assert result.returncode == 1
    assert result.stdout.startswith("skipped tests: unknown (no readable report ")
