"""scripts/cluster.sh without a cluster: it parses, its versions file is consistent, its command
line is strict, and in a checkout with no cluster state `status`, `down` and `load-image` say
so. The real cluster is exercised by tests/integration/test_local_cluster.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cluster.sh"
VERSIONS = ROOT / "scripts" / "kubernetes_versions.env"


def sourced_versions() -> dict[str, str]:
    out = subprocess.run(
        ["bash", "-c", 'set -euo pipefail -a; source "$1"; env -0', "bash", str(VERSIONS)],
        capture_output=True,
        check=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def run_copy(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs the script from a copy of scripts/ in an empty checkout, with its own cache."""
    (tmp_path / "scripts").mkdir(exist_ok=True)
    for name in ("cluster.sh", "kubernetes_versions.env"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    return subprocess.run(
        ["bash", str(tmp_path / "scripts" / "cluster.sh"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(tmp_path),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        },
    )


def test_the_script_parses() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True, timeout=30)


def test_the_versions_file_sources_and_its_versions_match() -> None:
    versions = sourced_versions()
    kube = re.fullmatch(r"v1\.(\d+)\.(\d+)", versions["KUBERNETES_VERSION"])
    assert kube, versions["KUBERNETES_VERSION"]
    # The staging modules of Kubernetes v1.X.Y are published as v0.X.Y.
    assert versions["KUBERNETES_STAGING_VERSION"] == f"v0.{kube.group(1)}.{kube.group(2)}"
    assert versions["KUBERNETES_MODULE"] == "k8s.io/kubernetes"
    packages = versions["CLUSTER_APT_PACKAGES"].split()
    for needed in ("etcd-server", "containerd", "runc", "containernetworking-plugins", "buildah", "gcc"):
        assert needed in packages
    assert "crun" not in packages
    assert re.fullmatch(r"localhost/[a-z0-9-]+:[0-9.]+", versions["PAUSE_IMAGE"])


def test_the_script_takes_its_versions_from_the_versions_file() -> None:
    text = SCRIPT.read_text()
    assert 'source "$ROOT/scripts/kubernetes_versions.env"' in text
    assert "v1.34" not in text and "v0.34" not in text


@pytest.mark.parametrize("args", [["frobnicate"], [], ["up", "extra"], ["load-image"]])
def test_a_wrong_command_line_exits_2_with_the_usage(tmp_path: Path, args: list[str]) -> None:
    result = run_copy(tmp_path, *args)
    assert result.returncode == 2
    assert "usage: bash scripts/cluster.sh" in result.stderr
    if args == ["frobnicate"]:
        assert "unknown command frobnicate" in result.stderr


def test_without_cluster_state_status_fails_and_shows_everything_stopped(tmp_path: Path) -> None:
    result = run_copy(tmp_path, "status")
    assert result.returncode == 1
    components = (
        "etcd",
        "containerd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
    )
    for component in components:
        assert re.search(rf"^{component} +stopped$", result.stdout, re.M), result.stdout
    assert not (tmp_path / ".state").exists()


def test_down_without_a_cluster_is_a_no_op(tmp_path: Path) -> None:
    for _ in range(2):
        result = run_copy(tmp_path, "down")
        assert result.returncode == 0, result.stderr
        assert "nothing to stop" in result.stdout
    assert not (tmp_path / ".state" / "cluster").exists()


def test_load_image_needs_the_cluster(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    archive.write_bytes(b"")
    result = run_copy(tmp_path, "load-image", str(archive))
    assert result.returncode == 1
    assert "containerd does not run" in result.stderr
    missing = run_copy(tmp_path, "load-image", str(tmp_path / "missing.tar"))
    assert missing.returncode == 1
    assert "no such image archive" in missing.stderr
