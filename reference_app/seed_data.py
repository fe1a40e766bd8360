"""Deterministic data for the reference schema: pure generators of COPY text lines.

Everything comes from one `random.Random(seed)` consumed in a fixed order and from a fixed
`anchor` time (the newest moment in the data), so the same (scale, seed, anchor, test users)
always yields byte-identical tables. Skew follows real multi-tenant products: organisation
sizes fall off as a power law (a few large tenants hold most rows), projects within an
organisation too, most issues are resolved (recent ones less so), a few percent are
soft-deleted, and file paths are built from a project's own module tree so that substring
(trigram) searches match anything from a handful to thousands of rows.
"""

from __future__ import annotations

import hashlib
import math
import random
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate

from reference_app import seed_vocabulary as vocab
from reference_app.passwords import DEFAULT_N, DEFAULT_P, DEFAULT_R, hash_password

__all__ = ["SCALES", "Dataset", "LoadTestUser", "Scale", "generate"]

NULL = "\\N"
DAY = 86400.0
API_KEY_TTL_DAYS = 90  # the api_keys.expires_at default in sql/schema/020_auth.sql
CHUNK_ROWS = 20000


@dataclass(frozen=True)
class Scale:
    """Row counts per table (test users come on top of `users`)."""

    organizations: int
    projects: int
    users: int
    sessions: int
    api_keys: int
    insight_issues: int
    autopilot_runs: int
    guardian_tests: int
    analytics_events: int
    audit_logs: int


SCALES: dict[str, Scale] = {
    "small": Scale(8, 40, 120, 400, 24, 8_000, 1_500, 1_500, 12_000, 2_000),
    "medium": Scale(60, 400, 2_000, 10_000, 300, 200_000, 40_000, 40_000, 400_000, 60_000),
    "large": Scale(300, 2_500, 15_000, 50_000, 1_500, 1_000_000, 200_000, 200_000, 2_000_000, 300_000),
}


@dataclass(frozen=True)
class LoadTestUser:
    email: str
    password: str = field(repr=False)


# --- helpers ------------------------------------------------------------------------------


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def _opt_ts(epoch: float | None) -> str:
    return NULL if epoch is None else _ts(epoch)


def _power_weights(n: int, exponent: float) -> list[float]:
    return [1.0 / (i + 1) ** exponent for i in range(n)]


def _split(total: int, weights: list[float], minimum: int) -> list[int]:
    """Split `total` into len(weights) integers >= minimum, proportional to weights."""
    n = len(weights)
    spare = max(total - minimum * n, 0)
    scale = spare / sum(weights)
    counts = [minimum + int(w * scale) for w in weights]
    for i in range(total - sum(counts)):
        counts[i % n] += 1
    return counts


def _hex(rng: random.Random, nbytes: int) -> str:
    return hashlib.sha256(rng.randbytes(nbytes)).hexdigest()


def _line(fields: list[str]) -> str:
    return "\t".join(fields) + "\n"


def _sorted_ages(rng: random.Random, n: int, horizon_days: float, power: float) -> list[float]:
    """n ages in seconds, densest near 0 (recent), oldest first."""
    ages = [horizon_days * DAY * rng.random() ** power for _ in range(n)]
    ages.sort(reverse=True)
    return ages


# --- the dataset -------------------------------------------------------------------------


@dataclass
class Dataset:
    """Plans the entities and yields each table's COPY text in foreign-key order."""

    scale: Scale
    seed: int
    anchor: datetime
    test_users: list[LoadTestUser]
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.now = self.anchor.timestamp()
        self._plan()

    # The order of rng calls below defines the data: never reorder, only append.
    def _plan(self) -> None:
        rng, sc = self.rng, self.scale
        self.org_weights = _power_weights(sc.organizations, 1.2)
        self.org_slugs: list[str] = []
        seen: set[str] = set()
        for i in range(sc.organizations):
            slug = f"{rng.choice(vocab.ORG_WORDS_A)}-{rng.choice(vocab.ORG_WORDS_B)}"
            if slug in seen:
                slug = f"{slug}-{i + 1}"
            seen.add(slug)
            self.org_slugs.append(slug)
        self.org_created = [self.now - (400 + rng.random() * 1000) * DAY for _ in range(sc.organizations)]

        # projects: per-org counts by org weight; project weight within its org falls off too
        per_org = _split(sc.projects, self.org_weights, 1)
        self.project_org: list[int] = []
        self.project_slug: list[str] = []
        self.project_weight: list[float] = []
        self.project_files: list[list[str]] = []
        self.project_urls: list[list[str]] = []
        self.org_projects: list[list[int]] = [[] for _ in range(sc.organizations)]
        for org, count in enumerate(per_org):
            names = rng.sample(vocab.PROJECT_NAMES, k=min(count, len(vocab.PROJECT_NAMES)))
            for j in range(count):
                base = names[j % len(names)]
                slug = base if j < len(names) else f"{base}-{j // len(names) + 1}"
                pid = len(self.project_org) + 1
                self.project_org.append(org + 1)
                self.project_slug.append(slug)
                self.project_weight.append(self.org_weights[org] / (j + 1) ** 0.8)
                self.org_projects[org].append(pid)
                self.project_files.append(self._file_tree(slug))
                self.project_urls.append(
                    [
                        f"https://{slug}.{self.org_slugs[org]}.example.com/{page}"
                        for page in rng.sample(vocab.PAGES, k=rng.randint(4, len(vocab.PAGES)))
                    ]
                )
        self.project_cum = list(accumulate(self.project_weight))

        # users: per-org counts by weight (at least 2), then the test users in weighted orgs
        per_org_users = _split(sc.users, self.org_weights, 2)
        self.user_org: list[int] = []
        self.org_users: list[list[int]] = [[] for _ in range(sc.organizations)]
        for org, count in enumerate(per_org_users):
            for _ in range(count):
                self.user_org.append(org + 1)
                self.org_users[org].append(len(self.user_org))
        self.regular_users = len(self.user_org)
        org_cum = list(accumulate(self.org_weights))
        self.test_user_orgs = [
            rng.choices(range(sc.organizations), cum_weights=org_cum)[0] + 1 for _ in self.test_users
        ]
        for org in self.test_user_orgs:
            self.user_org.append(org)
            self.org_users[org - 1].append(len(self.user_org))
        self.org_cum = org_cum

    def _file_tree(self, project_slug: str) -> list[str]:
        rng = self.rng
        modules = rng.sample(vocab.MODULES, k=rng.randint(5, 14))
        roots = rng.sample(vocab.ROOTS, k=rng.randint(1, 3))
        files = []
        for _ in range(rng.randint(40, 400)):
            ext = rng.choices(vocab.EXTENSIONS, weights=vocab.EXTENSION_WEIGHTS)[0]
            stem = rng.choice(vocab.RARE_STEMS) if rng.random() < 0.06 else rng.choice(vocab.STEMS)
            files.append(f"{rng.choice(roots)}/{rng.choice(modules)}/{rng.choice(vocab.LAYERS)}/{stem}{ext}")
        # a project-specific directory makes the project's own name searchable
        files.extend(
            f"{project_slug}/{rng.choice(vocab.LAYERS)}/{rng.choice(vocab.STEMS)}.ts" for _ in range(10)
        )
        return files

    def _project_chunks(self, n: int) -> Iterator[tuple[int, int, list[int]]]:
        """(first row index, rows, a project per row) for n rows, CHUNK_ROWS at a time."""
        for start in range(0, n, CHUNK_ROWS):
            size = min(CHUNK_ROWS, n - start)
            yield start, size, self._pick_projects(size)

    def _pick_projects(self, n: int) -> list[int]:
        return [
            i + 1 for i in self.rng.choices(range(len(self.project_org)), cum_weights=self.project_cum, k=n)
        ]

    # --- tables, in foreign-key order ---------------------------------------------------

    def tables(self) -> Iterator[tuple[str, tuple[str, ...], Iterator[str]]]:
        yield "organizations", ("id", "slug", "name", "plan", "created_at"), self._organizations()
        yield (
            "projects",
            ("id", "org_id", "slug", "name", "repository_url", "created_at", "archived_at"),
            self._projects(),
        )
        yield (
            "users",
            (
                "id",
                "org_id",
                "email",
                "display_name",
                "password_hash",
                "role",
                "created_at",
                "last_login_at",
                "disabled_at",
            ),
            self._users(),
        )
        yield (
            "sessions",
            (
                "id",
                "user_id",
                "token_hash",
                "created_at",
                "expires_at",
                "revoked_at",
                "ip_address",
                "user_agent",
            ),
            self._sessions(),
        )
        yield (
            "api_keys",
            (
                "id",
                "org_id",
                "created_by",
                "name",
                "key_prefix",
                "key_hash",
                "active",
                "created_at",
                "last_used_at",
                "revoked_at",
                "expires_at",
            ),
            self._api_keys(),
        )
        yield (
            "insight_issues",
            (
                "id",
                "org_id",
                "project_id",
                "detector",
                "severity",
                "status",
                "title",
                "message",
                "file_path",
                "line_number",
                "created_at",
                "updated_at",
                "resolved_at",
                "deleted_at",
            ),
            self._insight_issues(),
        )
        yield (
            "autopilot_runs",
            (
                "id",
                "org_id",
                "project_id",
                "user_id",
                "status",
                "trigger",
                "issues_found",
                "fixes_applied",
                "created_at",
                "started_at",
                "finished_at",
                "duration_ms",
                "error_message",
            ),
            self._autopilot_runs(),
        )
        yield (
            "guardian_tests",
            (
                "id",
                "org_id",
                "project_id",
                "url",
                "test_type",
                "status",
                "score",
                "findings",
                "duration_ms",
                "created_at",
                "completed_at",
            ),
            self._guardian_tests(),
        )
        yield (
            "analytics_events",
            ("id", "org_id", "project_id", "user_id", "event_type", "occurred_at", "value"),
            self._analytics_events(),
        )
        yield (
            "audit_logs",
            ("id", "org_id", "user_id", "action", "target_type", "target_id", "ip_address", "created_at"),
            self._audit_logs(),
        )

    def _organizations(self) -> Iterator[str]:
        for i, slug in enumerate(self.org_slugs):
            plan = "enterprise" if i < max(1, len(self.org_slugs) // 10) else ("team" if i % 3 else "free")
            name = " ".join(part.capitalize() for part in slug.split("-"))
            yield _line([str(i + 1), slug, name, plan, _ts(self.org_created[i])])

    def _projects(self) -> Iterator[str]:
        rng = self.rng
        for i, org in enumerate(self.project_org):
            slug = self.project_slug[i]
            created = self.org_created[org - 1] + rng.random() * 300 * DAY
            archived = created + rng.random() * 60 * DAY if rng.random() < 0.05 else None
            yield _line(
                [
                    str(i + 1),
                    str(org),
                    slug,
                    slug.replace("-", " ").title(),
                    f"https://git.example.com/{self.org_slugs[org - 1]}/{slug}",
                    _ts(created),
                    _opt_ts(archived),
                ]
            )

    def _users(self) -> Iterator[str]:
        rng = self.rng
        for i, org in enumerate(self.user_org):
            uid = i + 1
            created = self.org_created[org - 1] + rng.random() * 350 * DAY
            last_login = self.now - rng.random() ** 2 * 60 * DAY if rng.random() < 0.85 else None
            salt = rng.randbytes(16)
            if i < self.regular_users:
                first, last = rng.choice(vocab.FIRST), rng.choice(vocab.LAST)
                email = f"{first}.{last}.{uid}@{self.org_slugs[org - 1]}.example"
                display = f"{first.title()} {last.title()}"
                role = (
                    "owner"
                    if uid == self.org_users[org - 1][0]
                    else rng.choice(["admin", "member", "member", "member", "viewer"])
                )
                # no known password: a random digest in the stored format, at the real cost
                password_hash = f"scrypt${DEFAULT_N}${DEFAULT_R}${DEFAULT_P}${salt.hex()}${_hex(rng, 16)}"
                disabled = created + rng.random() * 30 * DAY if rng.random() < 0.03 else None
            else:
                test_user = self.test_users[i - self.regular_users]
                email, display, role, disabled = test_user.email, f"Load Test {uid}", "admin", None
                password_hash = hash_password(test_user.password, salt=salt)
            yield _line(
                [
                    str(uid),
                    str(org),
                    email,
                    display,
                    password_hash,
                    role,
                    _ts(created),
                    _opt_ts(last_login),
                    _opt_ts(disabled),
                ]
            )

    def _sessions(self) -> Iterator[str]:
        rng = self.rng
        ages = _sorted_ages(rng, self.scale.sessions, 30, 1.5)
        for i, age in enumerate(ages):
            created = self.now - age
            user = rng.randint(1, self.regular_users)
            expires = created + rng.choice([1, 7, 30]) * DAY
            revoked = created + rng.random() * (expires - created) if rng.random() < 0.3 else None
            if revoked is not None and revoked > self.now:
                revoked = None
            yield _line(
                [
                    str(i + 1),
                    str(user),
                    _hex(rng, 16),
                    _ts(created),
                    _ts(expires),
                    _opt_ts(revoked),
                    f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                    rng.choice(["Mozilla/5.0", "odavl-cli/2.3", "odavl-vscode/1.8"]),
                ]
            )

    def _api_keys(self) -> Iterator[str]:
        rng = self.rng
        for i in range(self.scale.api_keys):
            org = rng.choices(range(len(self.org_slugs)), cum_weights=self.org_cum)[0]
            creator = rng.choice(self.org_users[org])
            created = self.now - rng.random() * 300 * DAY
            revoked = created + rng.random() * (self.now - created) if rng.random() < 0.25 else None
            last_used = self.now - rng.random() * 10 * DAY if rng.random() < 0.7 else None
            key_hash = _hex(rng, 24)
            yield _line(
                [
                    str(i + 1),
                    str(org + 1),
                    str(creator),
                    f"{rng.choice(['ci', 'deploy', 'cli', 'grafana'])}-key-{i + 1}",
                    f"ohk_{key_hash[:6]}",
                    key_hash,
                    "f" if revoked else "t",
                    _ts(created),
                    _opt_ts(last_used),
                    _opt_ts(revoked),
                    _ts(created + API_KEY_TTL_DAYS * DAY),  # explicit: the schema's default is now()-based
                ]
            )

    def _insight_issues(self) -> Iterator[str]:
        rng, n = self.rng, self.scale.insight_issues
        ages = _sorted_ages(rng, n, 365, 2.0)
        det_cum = list(accumulate(vocab.DETECTOR_WEIGHTS))
        sev_cum = list(accumulate(vocab.SEVERITY_WEIGHTS))
        unres_cum = list(accumulate(vocab.UNRESOLVED_WEIGHTS))
        for start, size, projects in self._project_chunks(n):
            detectors = rng.choices(range(len(vocab.DETECTORS)), cum_weights=det_cum, k=size)
            severities = rng.choices(vocab.SEVERITIES, cum_weights=sev_cum, k=size)
            for k in range(size):
                row_id = start + k + 1
                pid = projects[k]
                created = self.now - ages[start + k]
                age_days = ages[start + k] / DAY
                files = self.project_files[pid - 1]
                path = files[int(len(files) * rng.random() ** 2)]
                detector, label = vocab.DETECTORS[detectors[k]]
                line_no = 1 + int(rng.random() ** 2 * 1500)
                resolved = deleted = None
                if rng.random() < 0.08 + 0.6 * math.exp(-age_days / 10):
                    status = vocab.UNRESOLVED[bisect_left(unres_cum, rng.random() * unres_cum[-1])]
                else:
                    status = "resolved" if rng.random() < 0.9 else "ignored"
                    resolved = min(created + 1800 + rng.random() ** 2 * 30 * DAY, self.now)
                if rng.random() < 0.04:
                    deleted = min((resolved or created) + rng.random() * 5 * DAY, self.now)
                updated = max(t for t in (created, resolved, deleted) if t is not None)
                base = path.rsplit("/", 1)[-1]
                yield _line(
                    [
                        str(row_id),
                        str(self.project_org[pid - 1]),
                        str(pid),
                        detector,
                        severities[k],
                        status,
                        f"{label} in {base}",
                        f"{detector} flagged {base}:{line_no}",
                        path,
                        str(line_no),
                        _ts(created),
                        _ts(updated),
                        _opt_ts(resolved),
                        _opt_ts(deleted),
                    ]
                )

    def _autopilot_runs(self) -> Iterator[str]:
        rng, n = self.rng, self.scale.autopilot_runs
        ages = _sorted_ages(rng, n, 180, 1.5)
        for start, size, projects in self._project_chunks(n):
            for k in range(size):
                pid = projects[k]
                org = self.project_org[pid - 1]
                created = self.now - ages[start + k]
                trigger = rng.choices(["manual", "schedule", "webhook"], weights=[65, 28, 7])[0]
                user = str(rng.choice(self.org_users[org - 1])) if trigger == "manual" else NULL
                if ages[start + k] < DAY and rng.random() < 0.3:
                    status = rng.choice(["queued", "running"])
                else:
                    status = rng.choices(["succeeded", "failed", "cancelled"], weights=[78, 14, 8])[0]
                started = finished = duration = None
                error = NULL
                found = fixed = 0
                if status != "queued":
                    started = created + rng.random() * 60
                if status in ("succeeded", "failed", "cancelled"):
                    duration = int(1000 * math.exp(rng.gauss(5.0, 0.9)))
                    finished = min(started + duration / 1000, self.now)
                    found = int(rng.random() ** 2 * 80)
                    fixed = int(found * rng.random()) if status == "succeeded" else 0
                    if status == "failed":
                        error = rng.choice(
                            [
                                "build failed",
                                "tests failed after fix",
                                "merge conflict",
                                "timeout after 20m",
                                "repository unreachable",
                            ]
                        )
                yield _line(
                    [
                        str(start + k + 1),
                        str(org),
                        str(pid),
                        user,
                        status,
                        trigger,
                        str(found),
                        str(fixed),
                        _ts(created),
                        _opt_ts(started),
                        _opt_ts(finished),
                        NULL if duration is None else str(duration),
                        error,
                    ]
                )

    def _guardian_tests(self) -> Iterator[str]:
        rng, n = self.rng, self.scale.guardian_tests
        ages = _sorted_ages(rng, n, 180, 1.3)
        status_cum = list(accumulate(vocab.TEST_STATUS_WEIGHTS))
        for start, size, projects in self._project_chunks(n):
            statuses = rng.choices(vocab.TEST_STATUSES, cum_weights=status_cum, k=size)
            for k in range(size):
                pid = projects[k]
                urls = self.project_urls[pid - 1]
                url = urls[int(len(urls) * rng.random() ** 2)]
                created = self.now - ages[start + k]
                status = statuses[k]
                done = status in ("passed", "failed", "error")
                score = (
                    str(rng.randint(85, 100) if status == "passed" else rng.randint(20, 84)) if done else NULL
                )
                duration = int(500 + rng.random() ** 2 * 60000) if done else None
                findings = 0 if status == "passed" and rng.random() < 0.6 else rng.randint(0, 40)
                completed = min(created + duration / 1000, self.now) if duration is not None else None
                yield _line(
                    [
                        str(start + k + 1),
                        str(self.project_org[pid - 1]),
                        str(pid),
                        url,
                        rng.choice(vocab.TEST_TYPES),
                        status,
                        score,
                        str(findings if done else 0),
                        NULL if duration is None else str(duration),
                        _ts(created),
                        _opt_ts(completed),
                    ]
                )

    def _analytics_events(self) -> Iterator[str]:
        rng, n = self.rng, self.scale.analytics_events
        ages = _sorted_ages(rng, n, 90, 1.0)
        event_cum = list(accumulate(vocab.EVENT_WEIGHTS))
        for start, size, projects in self._project_chunks(n):
            events = rng.choices(vocab.EVENT_TYPES, cum_weights=event_cum, k=size)
            for k in range(size):
                pid = projects[k]
                org = self.project_org[pid - 1]
                event = events[k]
                user = str(rng.choice(self.org_users[org - 1])) if rng.random() < 0.8 else NULL
                if event == "page_view":
                    value = round(math.exp(rng.gauss(6.7, 0.5)), 1)
                elif event == "api_call":
                    value = round(math.exp(rng.gauss(4.2, 0.8)), 1)
                else:
                    value = float(rng.randint(0, 50))
                yield _line(
                    [
                        str(start + k + 1),
                        str(org),
                        str(pid) if rng.random() < 0.9 else NULL,
                        user,
                        event,
                        _ts(self.now - ages[start + k]),
                        repr(value),
                    ]
                )

    def _audit_logs(self) -> Iterator[str]:
        rng, n = self.rng, self.scale.audit_logs
        ages = _sorted_ages(rng, n, 365, 1.5)
        action_cum = list(accumulate(vocab.AUDIT_WEIGHTS))
        for start in range(0, n, CHUNK_ROWS):
            size = min(CHUNK_ROWS, n - start)
            orgs = rng.choices(range(len(self.org_slugs)), cum_weights=self.org_cum, k=size)
            actions = rng.choices(range(len(vocab.AUDIT_ACTIONS)), cum_weights=action_cum, k=size)
            for k in range(size):
                org = orgs[k]
                action, target_type = vocab.AUDIT_ACTIONS[actions[k]]
                user = str(rng.choice(self.org_users[org])) if rng.random() < 0.95 else NULL
                yield _line(
                    [
                        str(start + k + 1),
                        str(org + 1),
                        user,
                        action,
                        target_type,
                        str(rng.randint(1, 100000)),
                        f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                        _ts(self.now - ages[start + k]),
                    ]
                )


def generate(scale: Scale, seed: int, anchor: datetime, test_users: list[LoadTestUser]) -> Dataset:
    return Dataset(scale=scale, seed=seed, anchor=anchor, test_users=test_users)
