"""Generate or check the committed dashboard JSON and Prometheus rule files.

python -m dashboards build   # write dashboards/load-testing.json, alerts/load_testing.rules.yml
python -m dashboards check   # exit 1 and name the stale files if they differ from the builders
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from dashboards.alerts import prometheus_rules_yaml
from dashboards.load_testing import dashboard_json

ROOT = Path(__file__).resolve().parent.parent

GENERATED: dict[Path, Callable[[], str]] = {
    ROOT / "dashboards" / "load-testing.json": dashboard_json,
    ROOT / "alerts" / "load_testing.rules.yml": prometheus_rules_yaml,
}


def stale_files(generated: dict[Path, Callable[[], str]] = GENERATED) -> list[Path]:
    """Files whose committed content differs from what the builders produce."""
    stale = []
    for path, render in generated.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != render():
            stale.append(path)
    return stale


def build(generated: dict[Path, Callable[[], str]] = GENERATED) -> list[Path]:
    """Write every generated file; return the paths written."""
    for path, render in generated.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
    return list(generated)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "check"])
    args = parser.parse_args(argv)
    if args.command == "build":
        for path in build():
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    stale = stale_files()
    for path in stale:
        print(f"out of date: {path.relative_to(ROOT)} (run `python -m dashboards build`)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
