"""Ephemeral stacks on the Pulumi Automation API: `pr-<n>` for pull requests, `rc-<sha>` for releases.

    python -m ops.ephemeral run --base staging --pr 42 [--config KEY=VALUE] [--secret-from-env KEY=ENV]
        [--policy-pack DIR]
    python -m ops.ephemeral destroy --name pr-42
    python -m ops.ephemeral cleanup --ttl 24h

`run` creates the stack from a base stack's configuration (`pulumi stack init --copy-config-from`,
so secrets are re-encrypted for the new stack), runs `pulumi up`, writes the outputs (secrets
masked) and then always destroys and removes the stack: after a failed update, an exception, or
SIGINT/SIGTERM. A SIGTERM is passed on to the running `pulumi` as SIGINT, which cancels the update
gracefully; a terminal's Ctrl-C reaches `pulumi` by itself. Secret overrides are read from
environment variables and handed to `pulumi config set` on stdin, never on a command line.

Two guards hold for every ephemeral stack. Its database objects: unless the stack starts its own
local PostgreSQL server (`databaseManageLocalServer`), its database is the base stack's, so
`databaseTuning` is set to `verify` (indexes checked, nothing created or dropped); an override
may choose `off`, and `manage` is refused. Its update: `pulumi up` always runs with the policy
pack (`policies/` of this checkout, or the copy given with --policy-pack); there is no way to
run it without one.

`cleanup` tears down ephemeral stacks older than a TTL that a killed run left behind; the TTL is
a duration such as 30s, 90m, 6h or 2d (`--ttl-hours N` still works but is deprecated).

    EphemeralError              base class; the CLI prints its message, never a traceback
    ├── EphemeralConfigError    a bad stack name, override or environment variable
    ├── Interrupted             a signal arrived; the stack was (or is being) torn down
    └── TeardownError           destroy or remove failed; the stack is left for `cleanup`

Exit codes: 0 success, 1 the update failed (stack torn down), 2 bad usage, 3 teardown failed,
128 + signal number when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pulumi import automation as auto

__all__ = [
    "CREATED_AT_TAG",
    "DATABASE_TUNING_KEY",
    "POLICY_PACK",
    "EphemeralConfigError",
    "EphemeralError",
    "EphemeralSpec",
    "EphemeralStacks",
    "Interrupted",
    "RunResult",
    "TeardownError",
    "build_parser",
    "ephemeral_name",
    "is_ephemeral",
    "main",
    "parse_duration",
    "pulumi_command",
]

CREATED_AT_TAG = "odavl:ephemeral-created-at"
DATABASE_TUNING_KEY = "odavl-perf:databaseTuning"
MANAGE_LOCAL_SERVER_KEY = "odavl-perf:databaseManageLocalServer"
SHARED_DATABASE_TUNINGS = ("verify", "off")  # what a stack may do to a database it does not own
POLICY_PACK = Path(__file__).resolve().parents[1] / "policies"
_NAME = re.compile(r"^(pr-[1-9][0-9]{0,9}|rc-[0-9a-f]{7,40})$")
_CLI_TIMEOUT_S = 300
_TEARDOWN_ATTEMPTS = 3
_DEFAULT_TTL = timedelta(hours=24)
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([smhd])$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

EXIT_OK, EXIT_UPDATE_FAILED, EXIT_USAGE, EXIT_TEARDOWN_FAILED = 0, 1, 2, 3


class EphemeralError(Exception):
    """Base class of every error this module raises on purpose."""


class EphemeralConfigError(EphemeralError):
    """A bad stack name, override or environment variable."""


class Interrupted(EphemeralError):
    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class TeardownError(EphemeralError):
    """Destroy or remove failed; the stack is left for `cleanup`."""


def is_ephemeral(name: str) -> bool:
    return bool(_NAME.match(name))


def ephemeral_name(*, pr: int | None = None, sha: str | None = None) -> str:
    """`pr-<n>` for a pull request, else `rc-<first 12 hex digits of the commit>`."""
    if pr is not None:
        name = f"pr-{pr}"
    elif sha:
        name = f"rc-{sha.lower()[:12]}"
    else:
        raise EphemeralConfigError("an ephemeral stack needs a pull-request number or a commit sha")
    if not is_ephemeral(name):
        raise EphemeralConfigError(
            f"{name!r} is not an ephemeral stack name; expected pr-<number> or rc-<hex sha>"
        )
    return name


@dataclass(frozen=True)
class EphemeralSpec:
    """An ephemeral stack to create: its name, its base stack and configuration overrides."""

    name: str
    base: str
    config: Mapping[str, str] = field(default_factory=dict)  # plaintext overrides
    secrets: Mapping[str, str] = field(default_factory=dict)  # secret overrides (never logged)

    def __post_init__(self) -> None:
        if not is_ephemeral(self.name):
            raise EphemeralConfigError(
                f"stack name {self.name!r} is not ephemeral; expected pr-<number> or rc-<7 to 40 hex digits>"
            )
        if is_ephemeral(self.base) or not self.base:
            raise EphemeralConfigError(f"base stack {self.base!r} must be a long-lived stack such as staging")

    def __repr__(self) -> str:
        config = dict(self.config)
        return f"EphemeralSpec(name={self.name!r}, base={self.base!r}, config={config!r}, secrets=[...])"


@dataclass
class RunResult:
    name: str
    outputs: dict[str, Any] = field(default_factory=dict)
    update_error: str | None = None
    teardown_error: str | None = None
    signum: int | None = None

    @property
    def exit_code(self) -> int:
        if self.signum is not None:
            return 128 + self.signum
        if self.teardown_error:
            return EXIT_TEARDOWN_FAILED
        return EXIT_UPDATE_FAILED if self.update_error else EXIT_OK


def _child_pids() -> list[int]:
    """This process's child processes (Linux /proc), e.g. the `pulumi` the Automation API runs."""
    pids = []
    for children in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError):
            pids.extend(int(pid) for pid in children.read_text().split())
    return pids


class EphemeralStacks:
    """Creates, runs and tears down the ephemeral stacks of one workspace (a project or an inline program)."""

    def __init__(
        self,
        workspace: auto.LocalWorkspace,
        *,
        log: Callable[[str], Any] = print,
        policy_pack: Path = POLICY_PACK,
    ):
        if not (policy_pack / "PulumiPolicy.yaml").is_file():
            raise EphemeralConfigError(
                f"policy pack {str(policy_pack)!r} has no PulumiPolicy.yaml; expected the project's "
                "policies/ directory (--policy-pack)"
            )
        self.workspace = workspace
        self.log = log
        self.policy_pack = policy_pack.resolve()
        self._signum: int | None = None

    # --- signals ---------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        first = self._signum is None
        self._signum = self._signum or signum
        if first and signum == signal.SIGTERM:
            # A terminal's Ctrl-C already reaches `pulumi`; a SIGTERM is sent to us alone.
            for pid in _child_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)
        self.log(f"{signal.Signals(signum).name} received: stopping, then destroying the stack")

    @contextlib.contextmanager
    def signals_handled(self) -> Iterator[None]:
        """Turn SIGINT/SIGTERM into a recorded stop request for the duration of a run."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _checkpoint(self) -> None:
        if self._signum is not None:
            raise Interrupted(self._signum)

    # --- the pulumi CLI, for what the Automation API does not offer ------------------------------

    def _cli(self, args: Sequence[str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.workspace.env_vars, "PULUMI_SKIP_UPDATE_CHECK": "true"}
        if self.workspace.pulumi_home:
            env["PULUMI_HOME"] = self.workspace.pulumi_home
        result = subprocess.run(
            [self.workspace.pulumi_command.command, *args, "--non-interactive"],
            cwd=self.workspace.work_dir,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=_CLI_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            shown = " ".join(args[:3])
            raise EphemeralError(f"pulumi {shown} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    # --- lifecycle -------------------------------------------------------------------------------

    def exists(self, name: str) -> bool:
        return any(summary.name.split("/")[-1] == name for summary in self.workspace.list_stacks())

    def create(self, spec: EphemeralSpec, *, now: datetime | None = None) -> auto.Stack:
        """`pulumi stack init NAME --copy-config-from BASE`, then the overrides and the creation tag."""
        if self.exists(spec.name):
            raise EphemeralError(f"stack {spec.name} already exists; run `destroy --name {spec.name}` first")
        forced_tuning = self._database_tuning(spec)  # before anything exists: a refusal leaves nothing
        self.log(f"creating {spec.name} from the configuration of {spec.base}")
        self._cli(["stack", "init", spec.name, "--copy-config-from", spec.base, "--no-select"])
        stack = auto.Stack.select(spec.name, self.workspace)
        stack.set_tag(CREATED_AT_TAG, (now or datetime.now(UTC)).isoformat(timespec="seconds"))
        for key, value in spec.config.items():
            stack.set_config(key, auto.ConfigValue(value=value, secret=False))
        if forced_tuning:
            self.log(f"{spec.name} shares the database of {spec.base}: {DATABASE_TUNING_KEY}={forced_tuning}")
            stack.set_config(DATABASE_TUNING_KEY, auto.ConfigValue(value=forced_tuning, secret=False))
        for key in spec.secrets:
            # On stdin: a command line is visible to every local user and in error messages.
            self._cli(["config", "set", key, "--secret", "--stack", spec.name], stdin=spec.secrets[key])
        return stack

    def _database_tuning(self, spec: EphemeralSpec) -> str | None:
        """The databaseTuning the stack must run with, or None when its database is its own.

        The base's effective configuration (`pulumi config --json` includes Pulumi.yaml's
        defaults; secrets are not shown) with the overrides on top. A stack that does not start
        its own local server works on the base's database: verify, unless the overrides say off.
        """
        base = json.loads(self._cli(["config", "--json", "--stack", spec.base]).stdout or "{}")
        effective = {key: str(entry.get("value", "")) for key, entry in base.items()}
        effective.update(spec.config)
        if effective.get(MANAGE_LOCAL_SERVER_KEY, "").lower() == "true":
            return None
        requested = spec.config.get(DATABASE_TUNING_KEY)
        if requested is None:
            return "verify"
        if requested not in SHARED_DATABASE_TUNINGS:
            raise EphemeralConfigError(
                f"--config {DATABASE_TUNING_KEY}={requested}: expected verify or off; {spec.name} "
                f"works on the database of {spec.base}, whose objects only {spec.base} may create or drop"
            )
        return None  # the override is already set

    def up(self, stack: auto.Stack) -> dict[str, Any]:
        """`pulumi up` with the policy pack, then the stack outputs with secret values masked."""
        self.log(f"updating {stack.name} (policy pack {self.policy_pack})")
        stack.up(on_output=self.log, color="never", policy_packs=[str(self.policy_pack)])
        return {key: "[secret]" if out.secret else out.value for key, out in stack.outputs().items()}

    def teardown(self, name: str) -> None:
        """Destroy then remove the stack; a no-op when it does not exist. Raises TeardownError."""
        if not self.exists(name):
            return
        stack = auto.Stack.select(name, self.workspace)
        problem = ""
        for attempt in range(1, _TEARDOWN_ATTEMPTS + 1):
            try:
                self.log(f"destroying {name} (attempt {attempt})")
                stack.destroy(on_output=self.log, color="never")
                # --remove-backups: a file backend otherwise keeps the stack's checkpoints.
                self._cli(["stack", "rm", "--yes", "--remove-backups", "--stack", name])
                self.log(f"removed {name}")
                return
            except (auto.errors.CommandError, EphemeralError) as exc:
                problem = _last_lines(str(exc))
                # An interrupted update can leave creates pending, which blocks destroy.
                with contextlib.suppress(auto.errors.CommandError):
                    stack.refresh(clear_pending_creates=True, color="never")
        raise TeardownError(
            f"could not destroy {name} after {_TEARDOWN_ATTEMPTS} attempts; it is left for "
            f"`python -m ops.ephemeral cleanup`: {problem}"
        )

    def run(self, spec: EphemeralSpec, *, outputs_file: Path | None = None) -> RunResult:
        """Create, update and read the outputs; always destroy and remove, whatever happens."""
        result = RunResult(spec.name)
        with self.signals_handled():
            try:
                self.create(spec)
                self._checkpoint()
                result.outputs = self.up(auto.Stack.select(spec.name, self.workspace))
                self._checkpoint()
                if outputs_file is not None:
                    outputs_file.parent.mkdir(parents=True, exist_ok=True)
                    outputs_file.write_text(json.dumps(result.outputs, indent=2, default=str) + "\n")
            except Interrupted as exc:
                result.signum, result.update_error = exc.signum, str(exc)
            except (auto.errors.CommandError, EphemeralError) as exc:
                result.update_error = _last_lines(str(exc))
                result.signum = self._signum
            finally:
                try:
                    self.teardown(spec.name)
                except (TeardownError, auto.errors.CommandError, EphemeralError) as exc:
                    result.teardown_error = str(exc)
        return result

    def cleanup(self, ttl: timedelta, *, now: datetime | None = None) -> list[str]:
        """Tear down ephemeral stacks created (or last updated) more than `ttl` ago; returns their names."""
        now = now or datetime.now(UTC)
        removed = []
        for summary in self.workspace.list_stacks():
            name = summary.name.split("/")[-1]
            if not is_ephemeral(name) or summary.update_in_progress:
                continue
            if now - self._created_at(name, summary) <= ttl:
                continue
            self.teardown(name)
            removed.append(name)
        return removed

    def _created_at(self, name: str, summary: auto.StackSummary) -> datetime:
        with contextlib.suppress(auto.errors.CommandError, ValueError):
            return datetime.fromisoformat(self.workspace.get_tag(name, CREATED_AT_TAG))
        if summary.last_update is not None:
            return summary.last_update.replace(tzinfo=summary.last_update.tzinfo or UTC)
        return datetime.min.replace(tzinfo=UTC)  # no trace of when: a leftover by definition


def _last_lines(text: str, count: int = 30) -> str:
    """The `Diagnostics:` section of a pulumi command's output without traceback frames, else its
    last lines: what went wrong, short enough for a CI log."""
    lines = text.strip().splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.strip() == "Diagnostics:"), None)
    if start is None:
        return "\n".join(line.strip() for line in lines[-count:])
    kept: list[str] = []
    skip_code_line = False
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break  # the next section (Resources:, Outputs:, ...)
        stripped = line.strip()
        if skip_code_line or set(stripped) <= {"^", "~"}:
            skip_code_line = False
            continue
        if stripped.startswith('File "'):
            skip_code_line = True
            continue
        kept.append(line.rstrip())
    return "\n".join(kept[:count]).strip()


# --- command line ----------------------------------------------------------------------------


def _pairs(values: Sequence[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EphemeralConfigError(f"{what} {item!r} is not of the form KEY=VALUE")
        pairs[key] = value
    return pairs


def _secrets_from_env(values: Sequence[str]) -> dict[str, str]:
    secrets = {}
    for key, variable in _pairs(values, "--secret-from-env").items():
        value = os.environ.get(variable)
        if value:
            secrets[key] = value
        else:
            print(f"note: {variable} is not set; {key} keeps the base stack's value", file=sys.stderr)
    return secrets


def pulumi_command() -> auto.PulumiCommand:
    """The `pulumi` on PATH, else the one scripts/setup.sh installs into ~/.pulumi/bin."""
    if shutil.which("pulumi"):
        return auto.PulumiCommand()
    root = Path.home() / ".pulumi"
    if (root / "bin" / "pulumi").is_file():
        return auto.PulumiCommand(root=str(root))
    raise EphemeralConfigError("the pulumi CLI is neither on PATH nor in ~/.pulumi/bin; run scripts/setup.sh")


def _workspace(work_dir: Path) -> auto.LocalWorkspace:
    if not (work_dir / "Pulumi.yaml").is_file():
        raise EphemeralConfigError(
            f"{work_dir} has no Pulumi.yaml; expected the project directory (--work-dir)"
        )
    return auto.LocalWorkspace(work_dir=str(work_dir.resolve()), pulumi_command=pulumi_command())


def parse_duration(text: str) -> timedelta:
    """A TTL such as `30s`, `90m`, `6h`, `2d` or `1.5h` (a number >= 0 and one unit), for argparse."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; expected a number followed by s, m, h or d, e.g. 30s, 90m, 6h or 2d"
        )
    number, unit = match.groups()
    try:
        return timedelta(**{_DURATION_UNITS[unit]: float(number)})
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{text!r} is too long; expected at most 999999999d") from None


def _hours(text: str) -> float:
    """The deprecated --ttl-hours value: a number of hours >= 0."""
    if not _DURATION.match(text.strip() + "h"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours >= 0; expected e.g. 24 or 1.5")
    return float(text)


def build_parser() -> argparse.ArgumentParser:
    """The `python -m ops.ephemeral` command line (the README's commands are checked against it)."""
    parser = argparse.ArgumentParser(prog="python -m ops.ephemeral", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path.cwd(), help="the Pulumi project (default: .)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="create, update, read outputs, destroy and remove")
    run.add_argument("--base", required=True, help="stack whose configuration is copied, e.g. staging")
    named = run.add_mutually_exclusive_group(required=True)
    named.add_argument("--name", help="pr-<n> or rc-<sha>")
    named.add_argument("--pr", type=int, help="pull-request number: the stack is pr-<n>")
    named.add_argument("--sha", help="commit: the stack is rc-<first 12 hex digits>")
    run.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="plaintext override")
    run.add_argument(
        "--secret-from-env", action="append", default=[], metavar="KEY=ENV", help="secret override from $ENV"
    )
    run.add_argument("--outputs-file", type=Path, default=None, help="write the stack outputs here (JSON)")
    run.add_argument(
        "--policy-pack",
        type=Path,
        default=POLICY_PACK,
        metavar="DIR",
        help="the policy pack the update runs with, e.g. a trusted checkout's policies/ (default: this "
        "checkout's policies/)",
    )
    destroy = commands.add_parser("destroy", help="destroy and remove an ephemeral stack (no-op if absent)")
    destroy.add_argument("--name", required=True)
    cleanup = commands.add_parser("cleanup", help="tear down ephemeral stacks older than a TTL")
    ttl = cleanup.add_mutually_exclusive_group()
    ttl.add_argument(
        "--ttl",
        type=parse_duration,
        default=None,
        metavar="DURATION",
        help="remove stacks older than this, e.g. 30s, 90m, 6h or 2d (default: 24h)",
    )
    # The option's first spelling; kept so existing CI jobs keep working.
    ttl.add_argument("--ttl-hours", type=_hours, default=None, metavar="HOURS", help="deprecated: use --ttl")
    return parser


def _cleanup_ttl(args: argparse.Namespace) -> timedelta:
    """The TTL from --ttl, or from the deprecated --ttl-hours (with a note), else 24 hours."""
    if args.ttl is not None:
        return args.ttl
    if args.ttl_hours is not None:
        print(f"note: --ttl-hours is deprecated; use --ttl {args.ttl_hours:g}h", file=sys.stderr)
        return timedelta(hours=args.ttl_hours)
    return _DEFAULT_TTL


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        stacks = EphemeralStacks(
            _workspace(args.work_dir), policy_pack=getattr(args, "policy_pack", POLICY_PACK)
        )
        if args.command == "run":
            name = args.name or ephemeral_name(pr=args.pr, sha=args.sha)
            spec = EphemeralSpec(
                name, args.base, _pairs(args.config, "--config"), _secrets_from_env(args.secret_from_env)
            )
            result = stacks.run(spec, outputs_file=args.outputs_file)
            for problem in (result.update_error, result.teardown_error):
                if problem:
                    print(f"error: {problem}", file=sys.stderr)
            return result.exit_code
        if args.command == "destroy":
            if not is_ephemeral(args.name):
                raise EphemeralConfigError(f"{args.name!r} is not an ephemeral stack; refusing to destroy it")
            stacks.teardown(args.name)
            return EXIT_OK
        removed = stacks.cleanup(_cleanup_ttl(args))
        print(f"removed {len(removed)} ephemeral stack(s): {', '.join(removed) or '-'}")
        return EXIT_OK
    except TeardownError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_TEARDOWN_FAILED
    except (EphemeralError, auto.errors.CommandError) as exc:
        print(f"error: {_last_lines(str(exc))}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
