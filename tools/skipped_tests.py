"""Prints how many tests a pytest run skipped, and which, from its JUnit XML report.

    python tools/skipped_tests.py REPORT.xml

scripts/test.sh runs it after pytest, so the count is always the last thing shown, also when
it is 0: pytest's own summary line names skips only when there are some, and a skipped check
is a check that did not run.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def skipped_tests(report: Path) -> list[tuple[str, str]]:
    """(test id, reason) of every skipped test case in a pytest JUnit XML report."""
    root = ElementTree.parse(report).getroot()
    found = []
    for case in root.iter("testcase"):
        skipped = case.find("skipped")
        if skipped is None:
            continue
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}".lstrip(":")
        found.append((test_id, skipped.get("message", "")))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="JUnit XML written by pytest --junitxml")
    args = parser.parse_args(argv)
    try:
        skipped = skipped_tests(args.report)
    except (OSError, ElementTree.ParseError) as error:
        # pytest stopped before writing its report (a usage or collection error): say so.
        print(f"skipped tests: unknown (no readable report {args.report}: {error})")
        return 1
    print(f"skipped tests: {len(skipped)}")
    for test_id, reason in skipped:
        print(f"  {test_id}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
