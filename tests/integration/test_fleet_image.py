"""The fleet image (images/fleet/Containerfile) built by scripts/fleet_image.sh, run as the pods run it.

The build needs no registry (a local Debian base, wheels from PyPI); a cold build takes a few
minutes, later ones reuse the cached oci-archive. The image is then loaded from that archive
and run with runc, the runtime of the local cluster, the way the Kubelet would start the
fleet's containers: the command, arguments, environment, working directory, user and volumes
of the Jobs that components/fleet/manifests.py renders, a read-only root filesystem, no
capabilities, the pod's memory and CPU limits, and the host's network (a master and a worker
on 127.0.0.1, against a loopback target). The master's log carries the results document, read
back as the fleet controller reads it (`results_from_log`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.fleet import manifests
from loadtests.run.config import SuiteConfig
from loadtests.run.shape import Stage
from tests.integration.loopback_http import serve

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("cluster_parts")]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "fleet_image.sh"
IMAGE_REPO = "localhost/odavl-perf/fleet"
BUILD_TIMEOUT_S = 1800  # cold: a Debian base (mmdebstrap) and the wheels; warm: instant


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is not installed: apt-get install {package}"
    return path


@dataclass(frozen=True)
class FleetImage:
    reference: str
    archive: Path


@pytest.fixture(scope="module")
def fleet_image() -> FleetImage:
    assert os.geteuid() == 0, "building and running the fleet image here needs root (buildah, runc)"
    for tool, package in (("buildah", "buildah"), ("mmdebstrap", "mmdebstrap"), ("runc", "runc")):
        _require(tool, package)
    build = subprocess.run(
        ["bash", str(SCRIPT), "build"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    reference = build.stdout.strip().splitlines()[-1]
    match = re.fullmatch(rf"{re.escape(IMAGE_REPO)}:([0-9a-f]{{12}})", reference)
    assert match, f"the last line of the build's stdout is not the image reference: {reference!r}"
    archive = ROOT / ".state" / "images" / f"fleet-{match.group(1)}.tar"
    assert archive.is_file(), f"the build printed {reference} but wrote no {archive}"
    return FleetImage(reference, archive)


def test_a_second_build_is_the_cached_archive(fleet_image: FleetImage) -> None:
    again = subprocess.run(
        ["bash", str(SCRIPT), "build"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.strip().splitlines()[-1] == fleet_image.reference
    assert "nothing to build" in again.stderr


@dataclass(frozen=True)
class Rootfs:
    reference: str
    path: Path
    config: dict  # the image's OCI config: Env, User, WorkingDir, Entrypoint


@pytest.fixture
def rootfs(fleet_image: FleetImage) -> Iterator[Rootfs]:
    """A buildah working container from the oci-archive (what a cluster loads), mounted."""
    container = subprocess.run(
        ["buildah", "from", "--pull=never", "--quiet", f"oci-archive:{fleet_image.archive}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.strip()
    try:
        mount = subprocess.run(
            ["buildah", "mount", container], capture_output=True, text=True, timeout=60, check=True
        ).stdout.strip()
        inspect = subprocess.run(
            ["buildah", "inspect", "--type", "container", container],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        yield Rootfs(fleet_image.reference, Path(mount), json.loads(inspect)["OCIv1"]["config"])
    finally:
        subprocess.run(["buildah", "umount", container], capture_output=True, timeout=60, check=False)
        subprocess.run(["buildah", "rm", container], capture_output=True, timeout=60, check=False)


def test_the_image_is_configured_for_the_pods(rootfs: Rootfs) -> None:
    config = rootfs.config
    assert config["User"] == "10001:10001"
    assert config["WorkingDir"] == "/opt/odavl-perf/app"
    assert config["Entrypoint"] == ["locust"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PATH"].split(":")[0] == "/opt/odavl-perf/venv/bin"
    assert env["PYTHONPATH"] == "/opt/odavl-perf/app"
    assert (rootfs.path / "opt/odavl-perf/app/loadtests/suite/locustfile.py").is_file()
    # The image installs nothing at run time, and carries no browser.
    site = rootfs.path / "opt/odavl-perf/venv/lib/python3.11/site-packages"
    assert (site / "locust").is_dir()
    assert not (site / "pip").exists()
    assert not (site / "playwright").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _quantity_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


def _quantity_millicpu(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(NAME) expansion of an env value or argument."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


class PodRunner:
    """Runs one Job's container with runc, as the Kubelet would on a host-network node."""

    def __init__(self, rootfs: Rootfs, work: Path) -> None:
        self.rootfs = rootfs
        self.work = work
        self.state = work / "runc-state"  # runc's own state: nothing shared with a cluster's runc
        self.state.mkdir()
        self.ids: list[str] = []

    def start(
        self, job: dict, volumes: dict[str, Path], overrides: dict[str, str] | None = None
    ) -> subprocess.Popen:
        """Start `job`'s container; `volumes` maps the pod's volume names to host directories
        (the `tmp` emptyDir is a tmpfs); `overrides` are values the cluster would supply
        (the Job completion index)."""
        pod = job["spec"]["template"]["spec"]
        container = pod["containers"][0]
        security = pod["securityContext"]
        image_env = dict(item.split("=", 1) for item in self.rootfs.config["Env"])
        env = dict(image_env)
        for item in container["env"]:
            if "value" in item:
                env[item["name"]] = _expand(item["value"], env)
            else:
                env[item["name"]] = (overrides or {})[item["name"]]
        mounts = [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["rbind", "ro"]},
        ]
        for mount in container["volumeMounts"]:
            if mount["name"] == "tmp":
                mounts.append(
                    {
                        "destination": mount["mountPath"],
                        "type": "tmpfs",
                        "source": "tmpfs",
                        "options": ["nosuid", "nodev", "mode=1777", "size=256m"],
                    }
                )
            else:
                options = ["rbind", "ro" if mount.get("readOnly") else "rw"]
                mounts.append(
                    {
                        "destination": mount["mountPath"],
                        "type": "bind",
                        "source": str(volumes[mount["name"]]),
                        "options": options,
                    }
                )
        limits = container["resources"]["limits"]
        context = container["securityContext"]
        assert context["capabilities"] == {"drop": ["ALL"]}
        spec = {
            "ociVersion": "1.0.2",
            "process": {
                "terminal": False,
                "user": {
                    "uid": security["runAsUser"],
                    "gid": security["runAsGroup"],
                    "additionalGids": [security["fsGroup"]],
                },
                "args": [_expand(a, env) for a in [*container["command"], *container["args"]]],
                "env": [f"{k}={v}" for k, v in env.items()],
                "cwd": container["workingDir"],
                "capabilities": {
                    "bounding": [],
                    "effective": [],
                    "inheritable": [],
                    "permitted": [],
                    "ambient": [],
                },
                "noNewPrivileges": not context["allowPrivilegeEscalation"],
            },
            "root": {"path": str(self.rootfs.path), "readonly": context["readOnlyRootFilesystem"]},
            "hostname": job["metadata"]["name"],
            "mounts": mounts,
            "linux": {
                # No network namespace: host networking, as the local cluster's fleet pods.
                "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
                "resources": {
                    "memory": {"limit": _quantity_bytes(limits["memory"])},
                    "cpu": {"period": 100000, "quota": _quantity_millicpu(limits["cpu"]) * 100},
                },
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            },
        }
        container_id = f"odavl-fleet-test-{uuid.uuid4().hex[:10]}"
        bundle = self.work / container_id
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(spec, indent=2))
        self.ids.append(container_id)
        return subprocess.Popen(
            ["runc", "--root", str(self.state), "run", "--bundle", str(bundle), container_id],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stop_all(self) -> None:
        for container_id in self.ids:
            subprocess.run(
                ["runc", "--root", str(self.state), "kill", container_id, "KILL"],
                capture_output=True,
                timeout=30,
                check=False,
            )
            subprocess.run(
                ["runc", "--root", str(self.state), "delete", "--force", container_id],
                capture_output=True,
                timeout=30,
                check=False,
            )


def _code_configmap_dir(work: Path) -> Path:
    """What the code ConfigMap volume holds in a pod: the suite's files at their paths."""
    data, items = manifests.code_configmap_data(manifests.loadtests_code_files(ROOT))
    code = work / "code"
    for item in items:
        path = code / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data[item["key"]], encoding="utf-8")
    for path in [code, *code.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return code


@pytest.mark.parametrize("code_from_configmap", [False, True], ids=["baked-code", "code-configmap"])
def test_a_master_and_a_worker_in_the_image_write_the_results_document(
    rootfs: Rootfs, tmp_path: Path, code_from_configmap: bool
) -> None:
    master_port, master_metrics, worker_metrics = _free_port(), _free_port(), _free_port()
    with serve(200) as target:
        spec = manifests.FleetSpec(
            namespace="odavl-perf-test",
            run_id="fleet-image",
            workers=1,
            image=rootfs.reference,
            target_url=target,
            target_cidrs=("127.0.0.1/32",),
            target_ports=(int(target.rsplit(":", 1)[1]),),
            code_from_configmap=code_from_configmap,
            master_port=master_port,
            metrics_port=master_metrics,
            extra_args=("--stop-timeout", "2"),
        )
        suite = SuiteConfig(
            target=target,
            run_id="fleet-image",
            stages=(Stage(2, 4), Stage(5, 4), Stage(1, 0)),
            # The static assets only: the loopback target answers 200 with a body to anything,
            # so every check passes and the master exits 0 (Locust exits 1 on any failure).
            user_weights={"static_assets": 1},
            think_time_min_s=0.1,
            think_time_max_s=0.5,
            stop_timeout_s=2.0,
        )
        config = json.loads(manifests.suite_config_for_kubernetes(suite.to_json(), spec))
        # One network namespace for both: the worker's exporter needs a port of its own.
        config["prometheus"]["worker_ports"] = [worker_metrics] * (spec.workers + 1)
        config_dir = tmp_path / "config"
        config_dir.mkdir()
        (config_dir / manifests.SUITE_CONFIG_KEY).write_text(json.dumps(config))
        config_dir.chmod(0o755)
        (config_dir / manifests.SUITE_CONFIG_KEY).chmod(0o644)
        volumes = {"config": config_dir}
        if code_from_configmap:
            volumes["code"] = _code_configmap_dir(tmp_path)

        master_job = manifests.master_job(spec)
        worker_job = manifests.worker_job(spec)
        # The worker reaches the master's Service by name in a cluster; here it is on loopback.
        worker_args = worker_job["spec"]["template"]["spec"]["containers"][0]["args"]
        worker_args[worker_args.index("--master-host") + 1] = "127.0.0.1"

        runner = PodRunner(rootfs, tmp_path)
        try:
            master = runner.start(master_job, volumes)
            worker = runner.start(worker_job, volumes, {"JOB_COMPLETION_INDEX": "0"})
            master_log, _ = master.communicate(timeout=180)
            worker_log, _ = worker.communicate(timeout=60)
        finally:
            runner.stop_all()

    assert master.returncode == 0, master_log[-4000:]
    assert worker.returncode == 0, worker_log[-4000:]
    assert f"Prometheus metrics on http://0.0.0.0:{master_metrics}/metrics" in master_log
    assert f"Prometheus metrics on http://0.0.0.0:{worker_metrics}/metrics" in worker_log
    doc = manifests.results_from_log(master_log)
    assert doc is not None, f"no valid results document after the marker:\n{master_log[-4000:]}"
    assert doc["status"] == "completed"
    assert doc["run_id"] == "fleet-image"
    assert doc["metrics"]["http_reqs"]["count"] > 0
    assert doc["metrics"]["http_req_failed"]["passes"] == 0
    assert [(w["id"], w["state"]) for w in doc["workers"]] == [("worker-0", "finished")]
