"""The shell commands a Markdown document shows, and a checker for each kind of command.

`commands(markdown)` finds every command: each line of a ```bash (sh, shell, console) block, each
line of another code block that starts with a program name, and each inline code span that starts
with a program name (PROGRAMS), a `.venv/bin/` path, or a script path followed by arguments.
`check(command)` returns what is wrong with it, an empty list when nothing is:

    bash scripts/X.sh ARGS     the script exists, is run (not sourced) and accepts ARGS (SCRIPTS)
    source scripts/X.sh        the script exists and is one meant to be sourced
    python -m MODULE ARGS      ARGS parse with the module's real argparse parser (MODULES)
    python tools/X.py ARGS     ARGS parse with the script's build_parser()
    pulumi ARGS                the built CLI (~/.pulumi/bin/pulumi, the pinned version) accepts the
                               subcommand and flags (`pulumi ARGS --help`); --stack names a stack
                               file, odavl-perf:KEY a key of Pulumi.yaml

A command whose program has no checker is a problem too ("add a checker"), so nothing the README
shows goes unchecked. Upper-case words (STACK, KEY, VALUE) are placeholders for the reader to fill
in; they stand for stack names and keys, and are passed to the parsers as they are.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import io
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PULUMI = Path.home() / ".pulumi" / "bin" / "pulumi"
SHELL_FENCES = frozenset({"bash", "sh", "shell", "console"})
# First words that make an inline code span a command. Generous on purpose: a command whose
# program has no checker then fails the test instead of passing unnoticed as prose.
PROGRAMS = frozenset(
    {
        ".",
        "actionlint",
        "apt",
        "apt-get",
        "bash",
        "cd",
        "curl",
        "docker",
        "export",
        "git",
        "go",
        "helm",
        "influx",
        "kubectl",
        "locust",
        "make",
        "node",
        "npm",
        "npx",
        "pip",
        "pip3",
        "promtool",
        "psql",
        "pulumi",
        "pytest",
        "python",
        "python3",
        "ruff",
        "sh",
        "source",
        "sudo",
        "wrk",
    }
)
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)


@dataclass(frozen=True)
class Command:
    """One command as the document shows it: where, its text, its words and its code block."""

    line: int
    text: str
    argv: tuple[str, ...]
    block: str | None = None  # the code block's language ("" unlabelled); None for inline code

    def __str__(self) -> str:
        return f"line {self.line}: {self.text}"


# --- finding the commands -----------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(text, comments=True))
    except ValueError:  # unbalanced quotes: prose such as `it's`, judged by its plain words
        return tuple(text.split())


def _program(argv: Sequence[str]) -> str | None:
    """The program a word list runs, after any VAR=value assignments; None when it is not a command."""
    words = [word for word in argv if not _ASSIGNMENT.match(word)] if argv else []
    if not words:
        return None
    first = words[0]
    if first in PROGRAMS or first.startswith((".venv/bin/", "./")):
        return first
    if "/" in first and first.endswith((".sh", ".py")) and len(words) > 1:
        return first  # a script run by its path, with arguments (a bare path is a file mention)
    return None


def commands(markdown: str) -> list[Command]:
    """Every command the document shows, in order: code-block lines first, then inline code."""
    found: list[Command] = []
    prose: list[str] = []
    block: str | None = None
    pending, pending_line = "", 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            block = line.lstrip()[3:].strip().split(" ")[0] if block is None else None
            prose.append("")
            continue
        if block is None:
            prose.append(line)
            continue
        prose.append("")
        # A trailing backslash continues the command on the next line, as in the shell.
        pending_line = pending_line or number
        pending += line[:-1] + " " if line.endswith("\\") else line
        if line.endswith("\\"):
            continue
        argv = _words(pending)
        if argv and argv[0] == "$":  # a console prompt
            argv = argv[1:]
        if _program(argv) is not None:
            found.append(Command(pending_line, " ".join(pending.split("#", 1)[0].split()), argv, block))
        pending, pending_line = "", 0
    text = "\n".join(prose)
    for match in _INLINE_CODE.finditer(text):
        span = " ".join(match.group(2).split())
        argv = _words(span)
        if _program(argv) is not None:
            found.append(Command(text.count("\n", 0, match.start()) + 1, span, argv))
    return found


# --- checking them ------------------------------------------------------------------------------


def check(command: Command) -> list[str]:
    """What is wrong with the command; empty when its checker accepts it."""
    problems = []
    if command.block is not None and command.block not in SHELL_FENCES:
        problems.append(f"shown in a ```{command.block} block: label the block ```bash")
    argv = [word for word in command.argv if not _ASSIGNMENT.match(word)]
    checker = CHECKERS.get(_checker_name(argv[0]))
    if checker is None:
        return [*problems, f"no checker for `{argv[0]}` commands: add one to CHECKERS in {_here()}"]
    return problems + checker(argv[1:])


def needs_pulumi(command: Command) -> bool:
    """Whether checking the command runs the Pulumi CLI (pulumi itself, or up.sh's flags)."""
    argv = [word for word in command.argv if not _ASSIGNMENT.match(word)]
    return argv[0] == "pulumi" or argv[:2] == ["bash", "scripts/up.sh"]


def _here() -> str:
    return str(Path(__file__).relative_to(ROOT))


def _checker_name(program: str) -> str:
    name = program.rsplit("/", 1)[-1] if program.startswith(".venv/bin/") else program
    return "python" if name == "python3" else name


# --- scripts ------------------------------------------------------------------------------------


def _no_arguments(script: str) -> Callable[[Sequence[str]], list[str]]:
    def check_args(args: Sequence[str]) -> list[str]:
        return [f"{script} takes no arguments, but is shown with {' '.join(args)!r}"] if args else []

    return check_args


def _setup_arguments(args: Sequence[str]) -> list[str]:
    """scripts/setup.sh takes nothing (everything), --local (what the local stack needs) or
    --cluster-in-background (everything, the cluster parts building on after it returns)."""
    if list(args) in ([], ["--local"], ["--cluster-in-background"]):
        return []
    return [
        "scripts/setup.sh takes no argument, --local or --cluster-in-background, "
        f"but is shown with {' '.join(args)!r}"
    ]


def _pytest_arguments(args: Sequence[str]) -> list[str]:
    """scripts/test.sh hands its arguments to pytest: test paths, -k/-m EXPR and a few switches."""
    problems = []
    words = iter(args)
    for word in words:
        if word in ("-k", "-m"):
            if next(words, None) is None:
                problems.append(f"scripts/test.sh: {word} needs an expression")
        elif word.startswith("-"):
            if word not in ("-x", "-q", "-v", "-ra"):
                problems.append(
                    f"scripts/test.sh: this checker does not know the pytest option {word!r}: "
                    f"extend _pytest_arguments in {_here()}"
                )
        elif not (ROOT / word.split("::", 1)[0]).exists():
            problems.append(f"scripts/test.sh: the test path {word!r} does not exist")
    return problems


def _up_arguments(args: Sequence[str]) -> list[str]:
    """scripts/up.sh [STACK [pulumi up flags]]: runs `pulumi up --yes --stack STACK FLAGS`."""
    if not args:
        return []
    stack, flags = args[0], list(args[1:])
    if stack.startswith("-"):
        return [f"scripts/up.sh takes the stack name first; {stack!r} would be taken for a stack name"]
    return _stack_problems(stack) + check_pulumi(["up", "--yes", "--stack", stack, *flags])


def _cluster_arguments(args: Sequence[str]) -> list[str]:
    """scripts/cluster.sh build|up|status|down, load-image ARCHIVE, or kubectl ARGS."""
    words = list(args)
    if words in (["build"], ["up"], ["status"], ["down"]) or words[:1] == ["kubectl"]:
        return []
    if words[:1] == ["load-image"] and len(words) in (2, 3):
        return []
    return [
        f"scripts/cluster.sh takes build, up, status, down, load-image ARCHIVE or kubectl ARGS, not {words!r}"
    ]


def _fleet_image_arguments(args: Sequence[str]) -> list[str]:
    """scripts/fleet_image.sh build [--output PATH]."""
    words = list(args)
    if words == ["build"] or (words[:2] == ["build", "--output"] and len(words) == 3):
        return []
    return [f"scripts/fleet_image.sh takes build [--output PATH], not {words!r}"]


def _cluster_parts_arguments(args: Sequence[str]) -> list[str]:
    """scripts/cluster_parts.sh plugin|background."""
    if list(args) in (["plugin"], ["background"]):
        return []
    return [f"scripts/cluster_parts.sh takes plugin or background, not {list(args)!r}"]


@dataclass(frozen=True)
class Script:
    sourced: bool  # it sets the calling shell's environment, so it is shown with `source`
    check_args: Callable[[Sequence[str]], list[str]]


SCRIPTS: dict[str, Script] = {
    "scripts/setup.sh": Script(False, _setup_arguments),
    "scripts/cluster_parts.sh": Script(False, _cluster_parts_arguments),
    "scripts/test.sh": Script(False, _pytest_arguments),
    "scripts/up.sh": Script(False, _up_arguments),
    "scripts/env.sh": Script(True, _no_arguments("scripts/env.sh")),
    "scripts/cluster.sh": Script(False, _cluster_arguments),
    "scripts/fleet_image.sh": Script(False, _fleet_image_arguments),
}


def _script(path: str) -> tuple[Script | None, list[str]]:
    path = path.removeprefix("./")
    if not (ROOT / path).is_file():
        return None, [f"{path} does not exist"]
    if path not in SCRIPTS:
        return None, [f"no argument checker for {path}: add it to SCRIPTS in {_here()}"]
    return SCRIPTS[path], []


def check_bash(args: Sequence[str]) -> list[str]:
    if not args:
        return ["bash without a script"]
    script, problems = _script(args[0])
    if script is None:
        return problems
    if script.sourced:
        return [f"{args[0]} sets the calling shell's environment: show it as `source {args[0]}`"]
    return script.check_args(args[1:])


def check_source(args: Sequence[str]) -> list[str]:
    if len(args) != 1:
        return [f"source takes one script, not {list(args)!r}"]
    script, problems = _script(args[0])
    if script is None:
        return problems
    if not script.sourced:
        return [f"{args[0]} is a program, not an environment file: show it as `bash {args[0]}`"]
    return []


# --- python -m MODULE and python tools/X.py -------------------------------------------------------


def _parse(
    parser: argparse.ArgumentParser, args: Sequence[str]
) -> tuple[argparse.Namespace | None, list[str]]:
    """Parse as the program does. An argparse error is a problem; --help (exit 0) is not."""
    err = io.StringIO()
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            return parser.parse_args(list(args)), []
    except SystemExit as exit_:
        if exit_.code in (0, None):
            return None, []
        message = err.getvalue().strip().splitlines()
        return None, [f"`{parser.prog}` rejects it: {message[-1] if message else exit_.code}"]


def _check_loadtests(args: Sequence[str]) -> list[str]:
    from loadtests.__main__ import build_parser

    namespace, problems = _parse(build_parser(), args)
    if namespace is not None and getattr(namespace, "handler", None) is None:
        problems.append("python -m loadtests needs a subcommand (run, gate, analyze, report, notify, upload)")
    return problems


def _check_ephemeral(args: Sequence[str]) -> list[str]:
    from ops.ephemeral import build_parser

    return _parse(build_parser(), args)[1]


def _check_ops(args: Sequence[str]) -> list[str]:
    # ops/__main__.py: `python -m ops ephemeral ...` is `python -m ops.ephemeral ...`.
    if not args or args[0] != "ephemeral":
        return ["python -m ops takes `ephemeral` first (python -m ops ephemeral ...)"]
    return _check_ephemeral(args[1:])


MODULES: dict[str, Callable[[Sequence[str]], list[str]]] = {
    "loadtests": _check_loadtests,
    "ops.ephemeral": _check_ephemeral,
    "ops": _check_ops,
}


def check_python(args: Sequence[str]) -> list[str]:
    if len(args) >= 2 and args[0] == "-m":
        module_check = MODULES.get(args[1])
        if module_check is None:
            return [f"no checker for `python -m {args[1]}`: add its parser to MODULES in {_here()}"]
        return module_check(args[2:])
    if args and args[0].endswith(".py"):
        path = ROOT / args[0]
        if not path.is_file():
            return [f"{args[0]} does not exist"]
        spec = importlib.util.spec_from_file_location(f"readme_checked_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "build_parser"):
            return [f"{args[0]} has no build_parser(): expose one so its command line can be checked"]
        return _parse(module.build_parser(), args[1:])[1]
    return [f"python {' '.join(args)}: expected `python -m MODULE ...` or `python PATH.py ...`"]


# --- pulumi ---------------------------------------------------------------------------------------


def _pinned_pulumi_version() -> str:
    env = (ROOT / "scripts" / "pulumi_versions.env").read_text()
    return re.search(r"^PULUMI_VERSION=(\S+)$", env, re.M).group(1)


def _pulumi_env() -> dict[str, str]:
    return {
        **os.environ,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }


@functools.cache
def pulumi_cli_problem() -> str | None:
    """Why the built, pinned Pulumi CLI cannot be used to check commands; None when it can."""
    wanted = f"v{_pinned_pulumi_version()}"
    if not PULUMI.is_file():
        return (
            f"the Pulumi CLI {PULUMI} is not built, and the README's pulumi commands are checked "
            "against it: run `bash scripts/setup.sh` (it builds the CLI)"
        )
    result = subprocess.run(
        [str(PULUMI), "version"], capture_output=True, text=True, timeout=60, env=_pulumi_env(), check=False
    )
    if result.stdout.strip() != wanted:
        return (
            f"{PULUMI} is {result.stdout.strip() or result.stderr.strip()!r}, not the pinned {wanted}: "
            "run `bash scripts/setup.sh` to rebuild it"
        )
    return None


@dataclass(frozen=True)
class PulumiHelp:
    path: tuple[str, ...]  # the command words the CLI resolved, e.g. ("stack", "output")
    takes_arguments: bool  # its usage shows positional arguments such as <key> or [value]
    valued_flags: frozenset[str]  # flags that take the next word as their value: --stack, -s


def parse_pulumi_help(text: str) -> PulumiHelp:
    """The usage and flag table of `pulumi ... --help` output."""
    lines = text.splitlines()
    start = lines.index("Usage:") + 1
    usage = []
    for line in lines[start:]:
        if not line.strip():
            break
        usage.append(line.split())
    words = usage[0][1:]  # after "pulumi"
    path = tuple(word for word in _until_placeholder(words))
    structural = {"[flags]", "[command]", "[--]"}
    takes_arguments = any(
        word[0] in "<[" and word not in structural for usage_line in usage for word in usage_line[1:]
    )
    valued = set()
    for match in re.finditer(r"^\s+(?:(-\w), )?(--[\w-]+)(?: (\S+))?", text, re.M):
        short, long, value_type = match.groups()
        if value_type and "[=" not in value_type:  # `string[="true"]` takes a value only after `=`
            valued.update(flag for flag in (short, long) if flag)
    return PulumiHelp(path, takes_arguments, frozenset(valued))


def _until_placeholder(words: Sequence[str]) -> list[str]:
    out = []
    for word in words:
        if word[0] in "<[":
            break
        out.append(word)
    return out


@functools.cache
def _pulumi_help(args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PULUMI), *args, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=_pulumi_env(),
        check=False,
    )


def _stack_problems(stack: str) -> list[str]:
    if PLACEHOLDER.match(stack) or (ROOT / f"Pulumi.{stack}.yaml").is_file():
        return []
    return [f"stack {stack!r} has no Pulumi.{stack}.yaml"]


def _config_key_problems(word: str) -> list[str]:
    key = word.split(":", 1)[1].split("=", 1)[0]
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    if PLACEHOLDER.match(key) or key in schema:
        return []
    return [f"{word!r}: {key!r} is not a config key declared in Pulumi.yaml"]


def check_pulumi(args: Sequence[str]) -> list[str]:
    problem = pulumi_cli_problem()
    if problem:
        return [problem]
    result = _pulumi_help(tuple(args))
    if result.returncode != 0:
        message = (result.stderr.strip() or result.stdout.strip()).splitlines()
        return [f"pulumi rejects it: {message[-1] if message else result.returncode}"]
    usage = parse_pulumi_help(result.stdout)
    problems: list[str] = []
    positionals: list[str] = []
    words = iter(args)
    for word in words:
        if word == "--":
            positionals.extend(words)
        elif word.startswith("-") and len(word) > 1:
            name, _, value = word.partition("=")
            if not value and name in usage.valued_flags:
                value = next(words, "")
            if name in ("--stack", "-s"):
                problems += _stack_problems(value)
        else:
            positionals.append(word)
    extra = positionals[len(usage.path) :]
    if extra and not usage.takes_arguments:
        problems.append(f"`pulumi {' '.join(usage.path)}` has no subcommand or argument {extra[0]!r}")
    problems += [p for word in extra if word.startswith("odavl-perf:") for p in _config_key_problems(word)]
    return problems


CHECKERS: dict[str, Callable[[Sequence[str]], list[str]]] = {
    "bash": check_bash,
    "source": check_source,
    ".": check_source,
    "python": check_python,
    "pulumi": check_pulumi,
}
