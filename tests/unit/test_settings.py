"""Settings validation: every problem is reported at once, by key path, value and expected form."""

from __future__ import annotations

import json

import pytest

from components.settings import (
    USER_GROUPS,
    SettingsError,
    parse_duration,
    parse_settings,
    project_defaults,
)
from loadtests.run.shape import Stage
from tests.support.fakes import DictConfigSource

SECRETS = frozenset({"testUsers", "databasePassword", "databaseReadonlyPassword"})
VALID = {
    "testUsers": json.dumps([{"email": "loadtest-1@odavl.test", "password": "hunter2-secret"}]),
    "databasePassword": "db-secret-value",
    "databaseReadonlyPassword": "ro-secret-value",
}


def settings(stack: str = "local", secrets: frozenset[str] = SECRETS, **overrides):
    values = {**VALID, **overrides}
    return parse_settings(DictConfigSource(stack, values, secrets), project_defaults())


def problems(stack: str = "local", secrets: frozenset[str] = SECRETS, **overrides) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        settings(stack, secrets, **overrides)
    message = str(caught.value)
    # One message lists every problem, each on its own line.
    assert message.count("\n  - ") == len(caught.value.problems)
    return caught.value.problems


def test_defaults_with_secrets_are_valid() -> None:
    s = settings()
    assert s.environment == "local"
    assert s.target.base_url == "http://127.0.0.1:8080"
    assert s.target.reference_app_port == 8080
    assert s.load.max_users == 1200
    assert set(s.load.user_weights) == set(USER_GROUPS)
    assert len(s.slo.thresholds) == 8
    assert s.database.management == "sql"
    assert s.load.think_time_min_s == 1.0 and s.load.think_time_max_s == 6.0


def test_stages_are_parsed_k6_style() -> None:
    s = settings(loadStages=[{"duration": "1m30s", "target": 10}, {"duration": "30s", "target": 0}])
    assert [(st.duration_s, st.target) for st in s.load.stages] == [(90.0, 10), (30.0, 0)]
    # The settings hold the load shape's own stages, as the runner and the suite play them.
    assert s.load.stages == (Stage(90.0, 10), Stage(30.0, 0))


@pytest.mark.parametrize(
    ("text", "seconds"), [("2m", 120), ("30s", 30), ("1h", 3600), ("1m30s", 90), ("0.5s", 0.5)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


BAD_CASES = {
    "zero users": (
        {"loadMaxUsers": 0},
        ["odavl-perf:loadMaxUsers = 0: expected a whole number from 1 to 5000"],
    ),
    "negative users": ({"loadMaxUsers": "-5"}, ["odavl-perf:loadMaxUsers = '-5'"]),
    "users not a number": (
        {"loadMaxUsers": "many"},
        ["odavl-perf:loadMaxUsers = 'many': expected a whole number"],
    ),
    "p99 below p95": (
        {"sloThresholds": ["http_req_duration: p(95)<500, p(99)<100"]},
        ["expected the p(99) bound (100) of http_req_duration to be at least its p(95) bound (500)"],
    ),
    "non-numeric threshold": (
        {"sloThresholds": ["http_req_duration: p(95)<fast"]},
        ["odavl-perf:sloThresholds[0] = 'http_req_duration: p(95)<fast': column"],
    ),
    "unknown stage key": (
        {"loadStages": [{"duration": "1m", "target": 5, "users": 3}]},
        ["odavl-perf:loadStages[0] = ", "unknown: users"],
    ),
    "bad stage duration": (
        {"loadStages": [{"duration": "soon", "target": 5}]},
        ["odavl-perf:loadStages[0].duration = 'soon': expected a k6 duration"],
    ),
    "target not a URL": (
        {"targetBaseUrl": "not a url"},
        ["odavl-perf:targetBaseUrl = 'not a url': expected an http(s) URL"],
    ),
    "target outside allow-list": (
        {"targetBaseUrl": "http://127.0.0.2:8080"},
        [
            "odavl-perf:targetBaseUrl = 'http://127.0.0.2:8080': "
            "expected a host listed in odavl-perf:targetAllowedHosts"
        ],
    ),
    "non-loopback target on local": (
        {"targetBaseUrl": "https://staging.odavl.studio", "targetAllowedHosts": ["staging.odavl.studio"]},
        ["expected a loopback host"],
    ),
    "empty secret": (
        {"databasePassword": ""},
        ["odavl-perf:databasePassword is not set or empty: expected a secret"],
    ),
    "plaintext secret": (
        {"__secrets__": SECRETS - {"databasePassword"}},
        ["odavl-perf:databasePassword is stored in plaintext: expected a secure value"],
    ),
    "malformed test users": (
        {"testUsers": '[{"email": "x"}]'},
        ["odavl-perf:testUsers = (secret): expected every test user"],
    ),
    "unknown user group": (
        {"loadUserWeights": {"insight": 1, "billing": 2}},
        ["odavl-perf:loadUserWeights.billing = 2: expected a user group among"],
    ),
    "all weights zero": (
        {"loadUserWeights": {"insight": 0}},
        ["odavl-perf:loadUserWeights = {'insight': 0}"],
    ),
    "think time inverted": (
        {"loadThinkTimeMinMs": 5000, "loadThinkTimeMaxMs": 1000},
        ["odavl-perf:loadThinkTimeMaxMs = 1000: expected at least loadThinkTimeMinMs (5000)"],
    ),
    "time scale zero": (
        {"loadTimeScale": "0"},
        ["odavl-perf:loadTimeScale = '0': expected a decimal number above 0"],
    ),
    "bad profile": (
        {"loadProfile": "marathon"},
        ["odavl-perf:loadProfile = 'marathon': expected one of staged, smoke, soak, spike"],
    ),
    "bad sslmode": (
        {"databaseSslMode": "sometimes"},
        ["odavl-perf:databaseSslMode = 'sometimes': expected one of"],
    ),
    "bad namespace": (
        {"kubernetesNamespace": "Load_Tests"},
        ["odavl-perf:kubernetesNamespace = 'Load_Tests': expected a DNS label"],
    ),
    "unpinned chart": (
        {
            "observabilityChartVersions": {
                "prometheus": "latest",
                "influxdb": "4.12.5",
                "loki": "6.46.0",
                "grafana": "10.1.4",
            }
        },
        ["odavl-perf:observabilityChartVersions.prometheus = 'latest': expected a pinned chart version"],
    ),
    "observability without kubernetes": (
        {"observabilityEnabled": True},
        ["odavl-perf:observabilityEnabled = True: expected false unless kubernetesEnabled"],
    ),
    "grafana without url or auth": (
        {"grafanaEnabled": True},
        ["odavl-perf:grafanaUrl = '': expected an http(s) URL", "odavl-perf:grafanaAuth is not set or empty"],
    ),
    "credentials in the target URL": (
        {"targetBaseUrl": "http://loadtest:hunter3@127.0.0.1:8080"},
        ["odavl-perf:targetBaseUrl = 'http://***@127.0.0.1:8080': expected a URL without user:password@"],
    ),
    "user name in the target URL": (
        {"targetBaseUrl": "http://admin@127.0.0.1:8080"},
        ["odavl-perf:targetBaseUrl = 'http://***@127.0.0.1:8080': expected a URL without user:password@"],
    ),
    "empty S3 prefix": (
        {"reportsS3Bucket": "odavl-reports", "reportsS3Prefix": ""},
        ["odavl-perf:reportsS3Prefix = '': expected a non-empty key prefix"],
    ),
    "slash S3 prefix": (
        {"reportsS3Bucket": "odavl-reports", "reportsS3Prefix": "/"},
        ["odavl-perf:reportsS3Prefix = '/': expected a non-empty key prefix"],
    ),
    "webhook not https": (
        {
            "notificationsSlackWebhook": "http://hooks.example/x",
            "__secrets__": SECRETS | {"notificationsSlackWebhook"},
        },
        ["odavl-perf:notificationsSlackWebhook = (secret): expected an https URL"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_settings_name_key_value_and_expected_form(case: str) -> None:
    overrides, expected = BAD_CASES[case]
    overrides = dict(overrides)
    secrets = overrides.pop("__secrets__", SECRETS)
    found = problems("local", secrets, **overrides)
    text = "\n".join(found)
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


def test_every_problem_is_reported_at_once() -> None:
    found = problems(loadMaxUsers=0, loadProfile="marathon", databaseSslMode="x", databasePassword="")
    keys = {p.split(" ")[0] for p in found}
    assert {
        "odavl-perf:loadMaxUsers",
        "odavl-perf:loadProfile",
        "odavl-perf:databaseSslMode",
        "odavl-perf:databasePassword",
    } <= keys


REMOTE = {
    "targetStartReferenceApp": False,
    "databaseManageLocalServer": False,
    "databaseHost": "db.internal",
    "databaseSslMode": "require",
}
PRODUCTION = {
    **REMOTE,
    "environment": "production",
    "targetBaseUrl": "https://odavl.studio",
    "targetAllowedHosts": ["odavl.studio"],
}


def remote_settings(stack: str, environ: dict[str, str] | None = None, **overrides):
    values = {**VALID, **overrides}
    return parse_settings(DictConfigSource(stack, values, SECRETS), project_defaults(), environ=environ)


def remote_problems(stack: str, environ: dict[str, str] | None = None, **overrides) -> str:
    with pytest.raises(SettingsError) as caught:
        remote_settings(stack, environ, **overrides)
    return "\n".join(caught.value.problems)


def test_production_needs_the_permission_of_this_update_and_the_user_cap() -> None:
    text = remote_problems("production", **PRODUCTION, loadMaxUsers=2500)
    assert (
        "ODAVL_ALLOW_PRODUCTION_RUN = '': expected 'production' to run a load test on production, "
        "set for this update only (ODAVL_ALLOW_PRODUCTION_RUN=production pulumi up ...)"
    ) in text
    assert "odavl-perf:loadMaxUsers = 2500: expected at most 2000 users on production" in text

    # A permission given for another stack approves nothing here.
    text = remote_problems("production", {"ODAVL_ALLOW_PRODUCTION_RUN": "staging"}, **PRODUCTION)
    assert "ODAVL_ALLOW_PRODUCTION_RUN = 'staging': expected 'production'" in text

    approved = remote_settings("production", {"ODAVL_ALLOW_PRODUCTION_RUN": "production"}, **PRODUCTION)
    assert approved.target.is_production and approved.load.allow_production
    # Without a load test there is nothing to approve.
    assert not remote_settings("production", **PRODUCTION, loadEnabled=False).load.allow_production


def test_a_committed_allow_flag_is_refused_whatever_its_value() -> None:
    for value in ("true", True, "false"):
        text = remote_problems(
            "production",
            {"ODAVL_ALLOW_PRODUCTION_RUN": "production"},
            **PRODUCTION,
            loadAllowProduction=value,
        )
        assert f"odavl-perf:loadAllowProduction = {value!r}: expected no such key" in text
        assert "ODAVL_ALLOW_PRODUCTION_RUN=<stack>" in text


def test_production_is_a_property_of_the_target_not_of_the_label() -> None:
    # A production host under a staging label: refused, and the guard applies as well.
    text = remote_problems("staging", **{**PRODUCTION, "environment": "staging"}, loadMaxUsers=2500)
    assert (
        "odavl-perf:environment = 'staging': expected production, because the target host "
        "'odavl.studio' is in odavl-perf:targetProductionHosts"
    ) in text
    assert "ODAVL_ALLOW_PRODUCTION_RUN = '': expected 'staging'" in text
    assert "odavl-perf:loadMaxUsers = 2500: expected at most 2000 users on production" in text
    # The production label on a host that is not listed.
    text = remote_problems(
        "production",
        {"ODAVL_ALLOW_PRODUCTION_RUN": "production"},
        **{
            **PRODUCTION,
            "targetBaseUrl": "https://elsewhere.example",
            "targetAllowedHosts": ["elsewhere.example"],
        },
    )
    assert "odavl-perf:targetBaseUrl = 'https://elsewhere.example': expected a host listed in" in text


def test_production_hosts_are_exact_unless_a_wildcard_names_the_subdomains() -> None:
    staging = {
        **REMOTE,
        "environment": "staging",
        "targetBaseUrl": "https://staging.odavl.studio",
        "targetAllowedHosts": ["staging.odavl.studio"],
    }
    assert not remote_settings("staging", **staging).target.is_production  # a subdomain of odavl.studio
    text = remote_problems("staging", **staging, targetProductionHosts=["*.odavl.studio"])
    assert "odavl-perf:environment = 'staging': expected production" in text
    text = remote_problems("staging", **staging, targetProductionHosts=["odavl.studio", "https://x.example"])
    assert (
        "odavl-perf:targetProductionHosts[1] = 'https://x.example': expected a lower-case host name" in text
    )


@pytest.mark.parametrize("stack", ["pr-42", "rc-0a1b2c3d4e5f"])
def test_an_ephemeral_stack_on_a_shared_database_may_not_manage_it(stack: str) -> None:
    staging = {
        **REMOTE,
        "environment": "staging",
        "targetBaseUrl": "https://staging.odavl.studio",
        "targetAllowedHosts": ["staging.odavl.studio"],
    }
    text = remote_problems(stack, **staging)  # the default is manage
    assert (
        "odavl-perf:databaseTuning = 'manage': expected verify or off on an ephemeral stack whose "
        "database it does not start itself"
    ) in text
    assert remote_settings(stack, **staging, databaseTuning="verify").database.tuning == "verify"
    assert remote_settings(stack, **staging, databaseTuning="off").database.tuning == "off"
    # The long-lived stack manages it, and an ephemeral stack manages a server it starts itself.
    assert remote_settings("staging", **staging).database.tuning == "manage"
    assert settings(stack).database.tuning == "manage"
    assert "odavl-perf:databaseTuning = 'drop': expected one of manage, verify, off" in "\n".join(
        problems(databaseTuning="drop")
    )


def test_sslmode_require_outside_local() -> None:
    found = problems(
        "staging",
        environment="staging",
        targetBaseUrl="https://staging.odavl.studio",
        targetAllowedHosts=["staging.odavl.studio"],
        targetStartReferenceApp=False,
        databaseManageLocalServer=False,
        databaseHost="db.internal",
        databaseSslMode="disable",
    )
    assert any("odavl-perf:databaseSslMode = 'disable': expected require" in p for p in found)


def test_credentials_in_the_target_url_are_never_repeated() -> None:
    # Not loopback and not allowed either: every message about the URL hides the credentials.
    found = problems(targetBaseUrl="https://ci-bot:Pa55word@staging.odavl.studio")
    text = "\n".join(found)
    assert "Pa55word" not in text and "ci-bot" not in text
    assert "https://***@staging.odavl.studio" in text and "without user:password@" in text


def test_secret_values_never_appear_in_messages() -> None:
    with pytest.raises(SettingsError) as caught:
        settings(
            testUsers="not json at all: hunter2-secret",
            databasePassword="db-secret-value",
            secrets=SECRETS - {"databasePassword"},
            loadMaxUsers=0,
        )
    message = str(caught.value)
    assert "hunter2-secret" not in message
    assert "db-secret-value" not in message
    assert "odavl-perf:testUsers = (secret)" in message


def test_web_vitals_thresholds_need_browser_users() -> None:
    found = problems(loadBrowserSharePercent=0)
    assert (
        sum("expected no web_vitals_* threshold while loadBrowserSharePercent is 0" in p for p in found) == 3
    )


def test_threshold_problems_keep_their_line_index() -> None:
    found = problems(sloThresholds=[42, "http_req_duration: p(95)<500", "checks: rate>"])
    text = "\n".join(found)
    assert "odavl-perf:sloThresholds[0] = '42'" in text
    assert "odavl-perf:sloThresholds[2] = 'checks: rate>'" in text


def test_ca_bundle_must_be_a_pem_file_of_certificates(tmp_path) -> None:
    from tests.fixtures.tls_certs import make_ca_and_server_cert

    assert settings().target.ca_bundle == ""
    ca = make_ca_and_server_cert(tmp_path).ca_pem
    assert settings(targetCaBundle=str(ca)).target.ca_bundle == str(ca)

    not_pem = tmp_path / "bundle.txt"
    not_pem.write_text("just some text\n")
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    for path, why in (
        (tmp_path / "missing.pem", "no such file"),
        (not_pem, "holds no -----BEGIN CERTIFICATE----- block"),
        (garbled, "do not parse"),
    ):
        text = "\n".join(problems(targetCaBundle=str(path)))
        assert f"odavl-perf:targetCaBundle = {str(path)!r}: expected a readable file of PEM-encoded" in text
        assert why in text


def test_a_mistyped_key_fails_naming_the_closest_declared_key() -> None:
    found = problems(loadMaxUser="100", loadProfile="marathon")
    assert (
        "odavl-perf:loadMaxUser = '100': expected a key declared in Pulumi.yaml; no such key, "
        "did you mean odavl-perf:loadMaxUsers?"
    ) in found
    assert any(p.startswith("odavl-perf:loadProfile = 'marathon'") for p in found)  # reported together
    (wrong_case,) = problems(databaseSSLMode="require")
    assert wrong_case.endswith("did you mean odavl-perf:databaseSslMode?")


def test_an_unknown_key_without_a_close_match_is_refused_too() -> None:
    (found,) = problems(zzz=1)
    assert found == (
        "odavl-perf:zzz = 1: expected a key declared in Pulumi.yaml; no such key, remove it "
        "(the README's configuration reference lists every key)"
    )


def test_an_unknown_secret_key_is_named_without_its_value() -> None:
    (found,) = problems(secrets=SECRETS | {"databasePasword"}, databasePasword="leaked-value")
    assert found.startswith("odavl-perf:databasePasword = (secret): expected a key declared")
    assert found.endswith("did you mean odavl-perf:databasePassword?")


def test_the_pulumi_source_lists_only_this_namespaces_keys(monkeypatch) -> None:
    import pulumi

    from components.settings import PulumiConfigSource, project_keys

    # What the engine passes: the program's config bag and the PULUMI_CONFIG variable.
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"odavl-perf:loadRunId": "7", "kubernetes:context": "c"}))
    pulumi.runtime.set_all_config({"odavl-perf:loadMaxUser": "100", "aws:region": "eu-central-1"}, [])
    try:
        assert PulumiConfigSource().set_keys() == ["loadMaxUser", "loadRunId"]
    finally:
        pulumi.runtime.set_all_config({}, [])
    assert {"loadMaxUsers", "testUsers", "databasePassword"} <= project_keys()


SCENARIO_THRESHOLDS = ["http_req_duration: p(95)<500", "checks: rate>0.95"]


def test_a_scenario_of_your_own_is_a_project_file() -> None:
    s = settings(
        loadLocustfile="examples/scenarios/../scenarios/projects.py",
        loadBrowserSharePercent=0,
        sloThresholds=SCENARIO_THRESHOLDS,
    )
    assert s.load.scenario == "examples/scenarios/projects.py"
    assert settings().load.scenario == ""


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("examples/scenarios/missing.py", "(no such file)"),
        ("README.md", "(not a Python locustfile's path"),
        ("../outside.py", "inside the project"),
        ("/etc/passwd.py", "inside the project"),
    ],
)
def test_a_scenario_outside_the_project_or_missing_is_refused(path: str, reason: str) -> None:
    found = problems(loadLocustfile=path, loadBrowserSharePercent=0, sloThresholds=SCENARIO_THRESHOLDS)
    assert len(found) == 1
    assert found[0].startswith(f"odavl-perf:loadLocustfile = {path!r}: expected the path of a .py locustfile")
    assert reason in found[0]


def test_a_scenario_has_no_browser_users() -> None:
    found = problems(loadLocustfile="examples/scenarios/projects.py", sloThresholds=SCENARIO_THRESHOLDS)
    assert found == [
        "odavl-perf:loadBrowserSharePercent = 2: expected 0 with loadLocustfile "
        "(the browser users belong to the specification's journeys)"
    ]


def test_a_rate_bound_outside_0_to_1_fails_the_settings() -> None:
    found = problems(sloThresholds=["http_req_duration: p(95)<500", "http_req_failed: rate<5"])
    assert len(found) == 1
    assert found[0].startswith("odavl-perf:sloThresholds[1] = 'http_req_failed: rate<5': column 23:")
    assert "expected a rate from 0 to 1" in found[0]
