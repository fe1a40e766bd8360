"""The README stays in step with the project: config reference, commands, durations, pinned versions.

Every command the README shows is found and checked by tests/unit/readme_commands.py: against the
real argparse parsers, the scripts' accepted arguments and the built Pulumi CLI.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from loadtests.__main__ import main as loadtests_main
from loadtests.run.shape import PROFILES, profile_stages, total_duration
from tests.unit import readme_commands

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import config_reference  # noqa: E402

README = (ROOT / "README.md").read_text()


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


# --- every command the README shows -----------------------------------------------------------


def _params(commands: list[readme_commands.Command]) -> list:
    """One test case per command; those checked against the Pulumi CLI are marked `engine`."""
    engine = [pytest.mark.engine]
    return [
        pytest.param(command, id=str(command), marks=engine if readme_commands.needs_pulumi(command) else [])
        for command in commands
    ]


@pytest.mark.parametrize("command", _params(readme_commands.commands(README)))
def test_every_readme_command_is_accepted_by_its_program(command: readme_commands.Command) -> None:
    problems = readme_commands.check(command)
    assert not problems, f"README.md {command}:\n  " + "\n  ".join(problems)


def test_the_commands_are_found_in_code_blocks_and_inline_code() -> None:
    found = {command.text for command in readme_commands.commands(README)}
    assert {
        "bash scripts/up.sh",
        "bash scripts/test.sh",
        "source scripts/env.sh",
        "pulumi stack output --json",
        "pulumi destroy --yes --stack local",
        "python -m loadtests run --help",
        "python -m loadtests gate RESULTS.json",
        "python -m loadtests analyze RESULTS.json",
        "python -m loadtests report RESULTS.json -o summary.html",
        "python -m loadtests notify slack --results RESULTS.json",
        "python -m loadtests upload RESULTS.json summary.html --bucket BUCKET --stack STACK --run-id RUN_ID",
        "python tools/config_reference.py",
        "python -m ops.ephemeral cleanup --ttl 6h",  # an inline span across a line break
    } <= found


def test_the_extractor_tells_commands_from_prose() -> None:
    markdown = "\n".join(
        [
            "Run `bash scripts/setup.sh` (see `scripts/setup.sh`), not `verdict` or `sloEnforce: true`.",
            "It sets `PULUMI_CONFIG_PASSPHRASE=odavl-local`; `http_req_duration: p(95)<500` is a threshold.",
            "```bash",
            "source scripts/env.sh   # a comment with `pulumi up` in it",
            "",
            "pulumi destroy \\",
            "  --yes",
            "```",
            "```",
            "Pulumi.<stack>.yaml -> Settings",
            "pulumi stack ls",
            "```",
            "A span across lines: `python -m ops.ephemeral cleanup",
            "--ttl 6h`, and ``FOO=1 kubectl get pods``.",
        ]
    )
    found = [(c.line, c.text, c.block) for c in readme_commands.commands(markdown)]
    assert found == [
        (4, "source scripts/env.sh", "bash"),
        (6, "pulumi destroy --yes", "bash"),
        (11, "pulumi stack ls", ""),
        (1, "bash scripts/setup.sh", None),
        (13, "python -m ops.ephemeral cleanup --ttl 6h", None),
        (14, "FOO=1 kubectl get pods", None),
    ]


def _command(text: str, block: str | None = None) -> readme_commands.Command:
    return readme_commands.Command(1, text, tuple(shlex.split(text)), block)


WRONG_COMMANDS = [
    ("python -m ops.ephemeral cleanup --ttl-hourz 6", "unrecognized arguments: --ttl-hourz 6"),
    ("python -m ops.ephemeral cleanup --ttl 6x", "'6x' is not a duration"),
    ("python -m ops.ephemeral", "the following arguments are required: command"),
    ("python -m ops ephemral cleanup", "python -m ops takes `ephemeral` first"),
    ("python -m loadtests gait RESULTS.json", "invalid choice: 'gait'"),
    ("python -m loadtests", "python -m loadtests needs a subcommand"),
    ("python -m loadtests report RESULTS.json", "the following arguments are required: -o/--output"),
    ("python -m loadtest run --help", "no checker for `python -m loadtest`: add its parser to MODULES"),
    ("python tools/config_reference.py --chek", "unrecognized arguments: --chek"),
    ("python tools/no_such_tool.py", "tools/no_such_tool.py does not exist"),
    ("python loadtests", "expected `python -m MODULE ...` or `python PATH.py ...`"),
    ("bash scripts/setup.sh --fast", "takes no argument, --local or --cluster-in-background"),
    ("bash scripts/no_such.sh", "scripts/no_such.sh does not exist"),
    ("bash scripts/env.sh", "show it as `source scripts/env.sh`"),
    ("source scripts/up.sh", "show it as `bash scripts/up.sh`"),
    ("bash scripts/up.sh --diff", "scripts/up.sh takes the stack name first"),
    ("bash scripts/test.sh tests/no_such_dir", "the test path 'tests/no_such_dir' does not exist"),
    ("bash scripts/test.sh --lf", "does not know the pytest option '--lf'"),
    ("scripts/up.sh STACK [pulumi up flags]", "no checker for `scripts/up.sh` commands: add one to CHECKERS"),
    ("kubectl get pods", "no checker for `kubectl` commands: add one to CHECKERS"),
]
WRONG_PULUMI_COMMANDS = [
    ("pulumi stack outptu", "`pulumi stack` has no subcommand or argument 'outptu'"),
    ("pulumi destroy --yse", "pulumi rejects it: error: unknown flag: --yse"),
    ("pulumi stack output --json --stack qa", "stack 'qa' has no Pulumi.qa.yaml"),
    ("pulumi config set --secret odavl-perf:noSuchKey VALUE", "'noSuchKey' is not a config key"),
    ("bash scripts/up.sh qa", "stack 'qa' has no Pulumi.qa.yaml"),
    ("bash scripts/up.sh local --dif", "pulumi rejects it: error: unknown flag: --dif"),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [*WRONG_COMMANDS, *(pytest.param(*case, marks=pytest.mark.engine) for case in WRONG_PULUMI_COMMANDS)],
)
def test_the_checkers_reject_wrong_commands(text: str, message: str) -> None:
    problems = readme_commands.check(_command(text))
    assert any(message in problem for problem in problems), problems


def test_a_command_in_an_unlabelled_code_block_is_a_problem() -> None:
    problems = readme_commands.check(_command("bash scripts/setup.sh", block=""))
    assert problems == ["shown in a ``` block: label the block ```bash"]


def test_every_script_has_an_argument_checker() -> None:
    scripts = {str(path.relative_to(ROOT)) for path in (ROOT / "scripts").glob("*.sh")}
    assert scripts == set(readme_commands.SCRIPTS)


def test_pulumi_help_gives_the_command_path_its_arguments_and_its_valued_flags() -> None:
    help_text = "\n".join(
        [
            "Set configuration value",
            "",
            "Usage:",
            "  pulumi config set <key> [flags] [--] [value]",
            "",
            "Flags:",
            "  -h, --help            help for set",
            "      --secret          Encrypt the value",
            '  -r, --refresh string[="true"]   Refresh first',
            "  -s, --stack string    The name of the stack to operate on",
            "",
        ]
    )
    usage = readme_commands.parse_pulumi_help(help_text)
    assert usage.path == ("config", "set") and usage.takes_arguments
    assert usage.valued_flags == {"-s", "--stack"}
    plain = readme_commands.parse_pulumi_help("Usage:\n  pulumi stack [flags]\n  pulumi stack [command]\n")
    assert plain.path == ("stack",) and not plain.takes_arguments


# --- the suite's commands do what the README says -----------------------------------------------


def _suite_command(
    name: str, results: Path, html: Path | None = None, *, word: str | None = None
) -> list[str]:
    """The README's first `python -m loadtests NAME ...` words (with `word` among them, when
    given), its placeholders replaced by real files."""
    for command in readme_commands.commands(README):
        if command.argv[:4] == ("python", "-m", "loadtests", name) and (word is None or word in command.argv):
            replace = {"RESULTS.json": str(results), "summary.html": str(html)}
            return [replace.get(word, word) for word in command.argv[3:]]
    raise AssertionError(f"README.md shows no `python -m loadtests {name}` command")


def test_the_readme_suite_commands_run_with_the_documented_exit_codes(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # the gate's default run store (reports/) starts empty here
    passing = tmp_path / "pass.json"
    passing.write_text((ROOT / "tests" / "fixtures" / "analysis" / "pass.json").read_text())
    breached = tmp_path / "breached.json"
    document = json.loads(passing.read_text())
    document["metrics"]["http_req_duration"]["p95"] = 900.0  # over p(95)<500
    breached.write_text(json.dumps(document))

    with pytest.raises(SystemExit) as help_exit:
        loadtests_main(_suite_command("run", passing, word="--help"))
    assert help_exit.value.code == 0 and "--target" in capsys.readouterr().out

    assert loadtests_main(_suite_command("gate", passing)) == 0
    assert loadtests_main(_suite_command("gate", breached)) == 99
    assert loadtests_main(_suite_command("gate", tmp_path / "missing.json")) == 2
    capsys.readouterr()

    assert loadtests_main(_suite_command("analyze", breached)) == 0
    analysis = capsys.readouterr().out
    assert "Verdict: FAIL" in analysis and "Bottlenecks" in analysis and "Recommendations" in analysis

    html = tmp_path / "summary.html"
    assert loadtests_main(_suite_command("report", passing, html)) == 0
    assert html.read_text().startswith("<!DOCTYPE html>")


# --- the durations the docs state are the ones the profiles play -------------------------------


def test_the_docs_state_the_durations_the_staged_profile_plays() -> None:
    staged_minutes = total_duration(PROFILES["staged"]) / 60
    local = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())["config"]
    local_seconds = total_duration(
        profile_stages(
            local["odavl-perf:loadProfile"],
            int(local["odavl-perf:loadMaxUsers"]),
            float(local["odavl-perf:loadTimeScale"]),
        )
    )
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    seconds_at_002 = total_duration(profile_stages("staged", 1200, 0.02))
    assert f"scaled to {local['odavl-perf:loadMaxUsers']} users and {local_seconds:g} s" in README
    assert f"the full {staged_minutes:g}-minute profile" in README
    assert f"7 stages, {staged_minutes:g} minutes at time scale 1" in schema["loadProfile"]["description"]
    assert f"0.02 = a {seconds_at_002:g}-second staged run" in schema["loadTimeScale"]["description"]
    for stack in ("staging", "production"):
        assert f"(1200 users, {staged_minutes:g} minutes)" in (ROOT / f"Pulumi.{stack}.yaml").read_text()
