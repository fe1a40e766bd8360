"""The README stays in step with the project: config reference, commands, pinned versions."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import config_reference  # noqa: E402


def test_config_reference_matches_pulumi_yaml() -> None:
    readme = (ROOT / "README.md").read_text()
    assert config_reference.updated_readme(readme, config_reference.render()) == readme, (
        "README.md's configuration reference is out of date: run python tools/config_reference.py"
    )


def test_every_schema_key_is_documented_and_read_by_settings() -> None:
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    readme = (ROOT / "README.md").read_text()
    settings_source = (ROOT / "components" / "settings.py").read_text()
    for key, spec in schema.items():
        assert f"| `{key}` |" in readme
        assert f'"{key}"' in settings_source, f"components/settings.py never reads {key}"
        assert {"type", "description"} <= set(spec), key
        assert "default" in spec or spec.get("secret"), f"{key} needs a default (or is a secret)"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"^(bash scripts/test\.sh)\s+#", readme, re.M)
    assert command, "the README names its test command"
    assert command.group(1) in ci


def test_pulumi_sdk_pin_matches_the_engine_version() -> None:
    env = (ROOT / "scripts" / "pulumi_versions.env").read_text()
    version = re.search(r"^PULUMI_VERSION=(\S+)$", env, re.M).group(1)
    requirements = (ROOT / "requirements.txt").read_text()
    assert f"\npulumi=={version}\n" in requirements
    go_mod = (ROOT / "tools" / "pulumi-cli" / "go.mod").read_text()
    assert f"github.com/pulumi/pulumi/pkg/v3 v{version}" in go_mod


def test_every_requirement_is_pinned_exactly() -> None:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==\S+", line), f"not pinned exactly: {line}"
