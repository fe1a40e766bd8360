"""A Python language host for the Pulumi CLI (`pulumi-language-python`).

The CLI talks to a language plugin over gRPC: it starts the plugin with the engine's address,
reads the port the plugin listens on from its stdout, then asks it to run the program
(`Run`) or to start a plugin written in this language, such as a CrossGuard policy pack
(`RunPlugin`). Pulumi's own host is a Go program whose module the package proxy does not serve,
so this project ships this small host instead. It implements exactly what the project needs:

* `Run` executes `pulumi-language-python-exec` (shipped with the SDK, installed next to
  `pulumi` by scripts/setup.sh) with the project's virtualenv interpreter; config and secret
  keys go through the PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS variables as with the Go host.
* `RunPlugin` runs a Python plugin directory (`python -u <dir>`) and streams its output.
* `GetRequiredPlugins`/`GetRequiredPackages` report nothing: provider plugins are installed
  ahead of time by scripts/setup.sh and loaded on demand by the engine.

Usage (by the CLI): `pulumi-language-python [-flags ...] ENGINE_ADDRESS`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
import pulumi
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

BAIL_EXIT_CODE = 32  # the SDK's exit code for "error already reported to the user"
EXEC_SCRIPT = "pulumi-language-python-exec"


def _find_exec_script() -> str:
    """The SDK's program runner, next to this host or on PATH."""
    here = Path(sys.argv[0]).resolve().parent
    for candidate in (here / EXEC_SCRIPT, Path.home() / ".pulumi" / "bin" / EXEC_SCRIPT):
        if candidate.is_file():
            return str(candidate)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory) / EXEC_SCRIPT
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError(f"{EXEC_SCRIPT} not found next to {here} or on PATH; run scripts/setup.sh")


def _python_for(root: str, options: dict[str, object]) -> str:
    """The interpreter of the project's virtualenv (runtime option `virtualenv`), else ours."""
    venv = options.get("virtualenv")
    if isinstance(venv, str) and venv:
        path = Path(venv) if os.path.isabs(venv) else Path(root) / venv
        python = path / "bin" / "python"
        if python.exists():
            return str(python)
    return sys.executable


def _options(info: language_pb2.ProgramInfo) -> dict[str, object]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(info.options) if info.HasField("options") else {}


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine_address: str) -> None:
        self.engine_address = engine_address
        self._running: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    # -- discovery ---------------------------------------------------------------------------
    def Handshake(self, request, context):
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=pulumi.__version__ if hasattr(pulumi, "__version__") else "")

    def GetRequiredPlugins(self, request, context):
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request, context):
        return language_pb2.GetRequiredPackagesResponse()

    def About(self, request, context):
        version = ".".join(str(part) for part in sys.version_info[:3])
        return language_pb2.AboutResponse(executable=sys.executable, version=version)

    def GetProgramDependencies(self, request, context):
        return language_pb2.GetProgramDependenciesResponse()

    def InstallDependencies(self, request, context):
        # Dependencies are installed by scripts/setup.sh; nothing to stream.
        return iter(())

    # -- running programs --------------------------------------------------------------------
    def Run(self, request, context):
        info = request.info
        root = info.root_directory or request.pwd
        program_dir = info.program_directory or request.pwd
        entry = info.entry_point or request.program or "."
        python = _python_for(root, _options(info))
        command = [
            python,
            "-u",
            _find_exec_script(),
            "--monitor",
            request.monitor_address,
            "--engine",
            self.engine_address,
            "--project",
            request.project,
            "--stack",
            request.stack,
            "--pwd",
            program_dir,
            "--dry_run",
            "true" if request.dryRun else "false",
            "--parallel",
            str(request.parallel),
            "--organization",
            request.organization or "organization",
            "--root_directory",
            root,
            entry,
            *request.args,
        ]
        env = dict(os.environ)
        env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
        env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
        code = self._wait(subprocess.Popen(command, cwd=program_dir, env=env))
        if code == 0:
            return language_pb2.RunResponse()
        if code == BAIL_EXIT_CODE:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"Program exited with non-zero exit code: {code}")

    def RunPlugin(self, request, context):
        info = request.info
        directory = info.program_directory or request.program
        python = _python_for(info.root_directory or directory, _options(info))
        env = dict(os.environ)
        env.update(item.split("=", 1) for item in request.env if "=" in item)
        process = subprocess.Popen(
            [python, "-u", directory, *request.args],
            cwd=request.pwd or directory,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        chunks: list[language_pb2.RunPluginResponse] = []
        ready = threading.Condition()

        def pump(stream, kind: str) -> None:
            for chunk in iter(lambda: stream.read1(65536), b""):
                with ready:
                    chunks.append(language_pb2.RunPluginResponse(**{kind: chunk}))
                    ready.notify()

        pumps = [
            threading.Thread(target=pump, args=(process.stdout, "stdout"), daemon=True),
            threading.Thread(target=pump, args=(process.stderr, "stderr"), daemon=True),
        ]
        for thread in pumps:
            thread.start()
        with self._lock:
            self._running.add(process)
        try:
            while True:
                with ready:
                    ready.wait_for(lambda: chunks or process.poll() is not None, timeout=0.5)
                    pending, chunks[:] = list(chunks), []
                yield from pending
                if process.poll() is not None and not any(t.is_alive() for t in pumps):
                    with ready:
                        pending, chunks[:] = list(chunks), []
                    yield from pending
                    break
                if not context.is_active():
                    process.terminate()
        finally:
            with self._lock:
                self._running.discard(process)
        yield language_pb2.RunPluginResponse(exitcode=process.returncode)

    def Cancel(self, request, context):
        with self._lock:
            for process in self._running:
                process.send_signal(signal.SIGINT)
        from google.protobuf import empty_pb2

        return empty_pb2.Empty()

    def _wait(self, process: subprocess.Popen[bytes]) -> int:
        with self._lock:
            self._running.add(process)
        try:
            return process.wait()
        finally:
            with self._lock:
                self._running.discard(process)


def main(argv: list[str]) -> int:
    positional = [arg for arg in argv if not arg.startswith("-")]
    engine_address = positional[-1] if positional else ""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)],
    )
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageHost(engine_address), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
