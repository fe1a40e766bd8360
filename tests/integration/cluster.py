"""The real single-node Kubernetes cluster of scripts/cluster.sh, for the tests that need one.

`ensure_cluster(repo_root)` starts it when `scripts/cluster.sh status` says it is not healthy
(the first start builds the binaries: minutes) and returns its kubeconfig. The
`cluster_kubeconfig` fixture stops a cluster it started after its module;
`scripts/cluster.sh down` stops one by hand. Pods that generate load must use hostNetwork and
target 127.0.0.1. Images are never pulled: import them first with `load_image` (IfNotPresent
finds an imported image by its name).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

# The kubeconfig context (and cluster) name scripts/cluster.sh writes.
CONTEXT = "odavl-local"
# The sandbox image scripts/cluster.sh imports; `/pause -v` prints its version and exits, so it
# also serves as the smallest possible workload.
PAUSE_IMAGE = "localhost/odavl-pause:3.10"
# A cold start builds Kubernetes from source (about 10 minutes on 2 cores); a warm one takes
# well under a minute.
UP_TIMEOUT_SECONDS = 1800

REPO_ROOT = Path(__file__).resolve().parents[2]


def _script(repo_root: Path) -> Path:
    return repo_root / "scripts" / "cluster.sh"


def kubeconfig_path(repo_root: Path) -> Path:
    return repo_root / ".state" / "cluster" / "kubeconfig"


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def cluster_running(repo_root: Path) -> bool:
    """Whether every component runs and the node is Ready (`scripts/cluster.sh status`)."""
    status = subprocess.run(
        ["bash", str(_script(repo_root)), "status"], capture_output=True, text=True, timeout=120, check=False
    )
    return status.returncode == 0


def ensure_cluster(repo_root: Path) -> Path:
    """Starts the local cluster unless it runs healthy already; returns its kubeconfig path."""
    if not cluster_running(repo_root):
        up = subprocess.run(
            ["bash", str(_script(repo_root)), "up"],
            capture_output=True,
            text=True,
            timeout=UP_TIMEOUT_SECONDS,
            check=False,
        )
        if up.returncode != 0:
            raise RuntimeError(
                f"`bash scripts/cluster.sh up` failed with exit {up.returncode}:\n"
                f"{_tail(up.stdout)}\n{_tail(up.stderr)}"
            )
    kubeconfig = kubeconfig_path(repo_root)
    if not kubeconfig.is_file():
        raise RuntimeError(f"scripts/cluster.sh up reported success but wrote no kubeconfig at {kubeconfig}")
    return kubeconfig


def load_image(repo_root: Path, archive: Path) -> str:
    """Imports an OCI image archive into the cluster's containerd; returns ctr's output."""
    result = subprocess.run(
        ["bash", str(_script(repo_root)), "load-image", str(archive)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"importing {archive} into the cluster failed:\n{_tail(result.stdout)}\n{_tail(result.stderr)}"
        )
    return result.stdout


@pytest.fixture(scope="module")
def cluster_kubeconfig(cluster_parts: None) -> Iterator[Path]:
    """The running local cluster's kubeconfig (import this fixture into a test module).

    A cluster this fixture started is stopped again after the module (about 10 s each way
    when the binaries are cached): its components would otherwise take CPU from the latency
    measurements of the tests that follow. A cluster that was already running stays.
    """
    started = not cluster_running(REPO_ROOT)
    kubeconfig = ensure_cluster(REPO_ROOT)
    yield kubeconfig
    if started:
        subprocess.run(
            ["bash", str(_script(REPO_ROOT)), "down"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
