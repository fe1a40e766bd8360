"""The fleet image's recipe (images/fleet/Containerfile, requirements-fleet.txt, the ignore files,
scripts/fleet_image.sh), checked without building anything (tests/integration/test_fleet_image.py
builds and runs it)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from components.fleet import manifests

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "images" / "fleet" / "Containerfile"
SCRIPT = ROOT / "scripts" / "fleet_image.sh"
APP_DIR = "/opt/odavl-perf/app"
VENV_DIR = "/opt/odavl-perf/venv"
# What the Locust processes of the fleet load: the suite (without its browser users: the
# browser share is 0 on the cluster), the run settings and shapes, the results document.
FLEET_SOURCES = ("loadtests/suite", "loadtests/run", "loadtests/results")
FLEET_EXCLUDED = ("loadtests/suite/browser",)


def pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file, by canonical name."""
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{path.name}: {line} is not pinned"
        found[canonicalize_name(requirement.name)] = specifiers[0].version
    return found


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_every_fleet_pin_is_the_pin_of_requirements_txt():
    fleet = pins(ROOT / "requirements-fleet.txt")
    project = pins(ROOT / "requirements.txt")
    assert {"locust", "hdrhistogram", "prometheus-client", "jsonschema"} <= set(fleet)
    assert {name: version for name, version in fleet.items() if project.get(name) != version} == {}
    assert "playwright" not in fleet  # no browser users on the cluster


def _dependency_closure(names: set[str]) -> set[str]:
    """The distributions `names` need, with their dependencies (no extras), as installed here."""
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                stack.append(canonicalize_name(requirement.name))
    return seen


def _imported_top_level_modules() -> dict[str, str]:
    """Top-level module -> a file importing it, over what the fleet's Locust processes load."""
    files = [ROOT / "loadtests" / name for name in ("__init__.py", "errors.py", "exit_codes.py")]
    for directory in FLEET_SOURCES:
        files.extend(
            path
            for path in sorted((ROOT / directory).rglob("*.py"))
            if not any(path.is_relative_to(ROOT / excluded) for excluded in FLEET_EXCLUDED)
        )
    modules: dict[str, str] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                modules.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return modules


def test_every_module_the_fleet_imports_is_installed_by_the_fleet_requirements():
    closure = _dependency_closure(set(pins(ROOT / "requirements-fleet.txt")))
    providers = metadata.packages_distributions()
    missing = {}
    for module, where in _imported_top_level_modules().items():
        if module in ("__future__", "loadtests") or module in sys.stdlib_module_names:
            continue
        distributions = {canonicalize_name(d) for d in providers.get(module, [])}
        if not distributions & closure:
            missing[module] = where
    assert missing == {}, f"add these modules' packages to requirements-fleet.txt: {missing}"


def test_the_base_is_an_argument_defaulting_to_public_debian_bookworm():
    steps = instructions()
    assert steps[0] == ("ARG", "BASE_IMAGE=docker.io/library/debian:bookworm-slim")
    assert [args for keyword, args in steps if keyword == "FROM"] == ["${BASE_IMAGE}"]


def test_no_image_reference_is_latest_or_untagged():
    text = CONTAINERFILE.read_text() + SCRIPT.read_text()
    assert not re.search(r":latest\b", text)
    for keyword, args in instructions():
        if keyword == "ARG" and args.startswith("BASE_IMAGE="):
            reference = args.split("=", 1)[1]
            assert re.fullmatch(r"[\w.\-/]+:[\w.\-]+", reference), reference


def test_the_dependencies_are_the_fleet_pins_in_a_virtualenv():
    steps = instructions()
    copies = [args for keyword, args in steps if keyword == "COPY"]
    assert "requirements-fleet.txt /opt/odavl-perf/requirements-fleet.txt" in copies
    install = next(args for keyword, args in steps if keyword == "RUN" and "pip install" in args)
    assert f"python3 -m venv {VENV_DIR}" in install
    assert "-r /opt/odavl-perf/requirements-fleet.txt" in install
    assert "--only-binary=:all:" in install
    assert "playwright" not in install.lower()


def test_the_code_is_copied_and_on_the_python_path():
    steps = instructions()
    copies = [args for keyword, args in steps if keyword == "COPY"]
    assert f"loadtests {APP_DIR}/loadtests" in copies
    env = " ".join(args for keyword, args in steps if keyword == "ENV")
    assert f"PYTHONPATH={APP_DIR}" in env
    assert f"PATH={VENV_DIR}/bin:" in env
    assert ("WORKDIR", APP_DIR) in steps


def test_it_runs_as_a_non_root_user_and_starts_locust():
    steps = instructions()
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users == ["10001:10001"]  # numeric, so Kubernetes can check runAsNonRoot
    assert steps[-2:] == [("ENTRYPOINT", '["locust"]'), ("CMD", '["--help"]')]
    assert "useradd --uid 10001 --gid 10001" in CONTAINERFILE.read_text()


def test_the_manifests_commands_find_their_code_and_user_in_the_image():
    """The Jobs run `locust` from PATH in the code directory as a non-root user; that directory
    is the image's app directory, or a link to it the Containerfile makes."""
    text = CONTAINERFILE.read_text()
    assert manifests.CODE_DIR == APP_DIR or f"ln -s {APP_DIR} {manifests.CODE_DIR}" in text
    assert manifests.RUN_AS_USER != 0
    assert manifests.master_command()[0] == "/bin/sh"
    spec = manifests.FleetSpec(
        namespace="n",
        run_id="r",
        workers=1,
        image="i",
        target_url="http://t",
        target_cidrs=(),
        target_ports=(),
    )
    worker = manifests.worker_job(spec)["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"] == ["locust"]


def test_no_secret_is_passed_to_the_build():
    for keyword, args in instructions():
        if keyword in ("ARG", "ENV"):
            assert not re.search(r"(?i)(password|secret|token|passphrase|_key\b)", args), args


def ignore_patterns(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_the_build_context_is_only_what_the_image_copies():
    patterns = ignore_patterns(ROOT / ".containerignore")
    assert patterns == ignore_patterns(ROOT / ".dockerignore")
    # Everything is ignored (.venv, .state, reports, .git, caches ...) but what is re-included.
    assert patterns[0] == "*"
    included = {pattern[1:] for pattern in patterns if pattern.startswith("!")}
    sources = {
        args.split()[0] for keyword, args in instructions() if keyword == "COPY" and "--from" not in args
    }
    assert sources == included
    assert {"**/__pycache__", "**/*.pyc"} <= set(patterns)


def test_the_build_script_parses():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_the_build_script_pulls_nothing_and_builds_on_the_local_base():
    text = SCRIPT.read_text()
    assert "--pull=never" in text
    assert '--build-arg "BASE_IMAGE=$BASE_REF"' in text
    assert 'BASE_REF="localhost/odavl-perf/debian-base:bookworm"' in text
    assert "set -euo pipefail" in text


def _copy_of_the_context(destination: Path) -> Path:
    for name in (
        "scripts/fleet_image.sh",
        "images/fleet/Containerfile",
        "requirements-fleet.txt",
        ".containerignore",
    ):
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination / name)
    for name in ("loadtests", "examples/scenarios"):
        shutil.copytree(ROOT / name, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def reference_in(root: Path) -> str:
    result = subprocess.run(
        ["bash", str(root / "scripts" / "fleet_image.sh"), "reference"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_tag_is_the_content_so_changed_code_is_a_new_image(tmp_path):
    copy = _copy_of_the_context(tmp_path / "repo")
    reference = reference_in(copy)
    assert re.fullmatch(r"localhost/odavl-perf/fleet:[0-9a-f]{12}", reference)
    assert reference_in(ROOT) == reference  # the same files, wherever the checkout is

    (copy / "loadtests" / "suite" / "__pycache__").mkdir(exist_ok=True)
    (copy / "loadtests" / "suite" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert reference_in(copy) == reference  # byte-code is not part of the image

    locustfile = copy / "loadtests" / "suite" / "locustfile.py"
    locustfile.write_text(locustfile.read_text() + "\n# changed\n")
    changed = reference_in(copy)
    assert changed != reference

    (copy / "requirements-fleet.txt").write_text((ROOT / "requirements-fleet.txt").read_text() + "\n")
    assert reference_in(copy) not in (reference, changed)
