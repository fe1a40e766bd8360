"""Every SQL statement the reference app runs, one named constant per query.

The names are stable: the app sends the name of a request's main query in the
`X-Db-Query-Name` response header and labels its `studiohub_db_query_duration_seconds`
histogram with it, and the index migration's verification (sql/verify/) imports these
constants so that EXPLAIN checks the very SQL the service sends.

Parameters use psycopg's named style, `%(name)s`. Tenant-scoped queries always filter on
`org_id` (the caller's organisation), so one organisation never sees another's rows.
List queries take `%(limit)s` (1-100) and `%(offset)s` (0-10000).
"""

from __future__ import annotations

# --- authentication ---------------------------------------------------------------

# Login: email is compared lower-cased (the seeder and the app store it lower-case).
AUTH_USER_BY_EMAIL = """
SELECT id, org_id, email, display_name, role, password_hash
FROM users
WHERE email = %(email)s AND disabled_at IS NULL
"""

AUTH_SESSION_INSERT = """
INSERT INTO sessions (user_id, token_hash, expires_at, ip_address, user_agent)
VALUES (%(user_id)s, %(token_hash)s, now() + make_interval(secs => %(ttl_s)s), %(ip_address)s,
        %(user_agent)s)
RETURNING id, created_at, expires_at
"""

AUTH_USER_TOUCH_LOGIN = """
UPDATE users SET last_login_at = now() WHERE id = %(user_id)s
"""

# Every request authenticated by a bearer token runs this lookup first.
AUTH_SESSION_BY_TOKEN = """
SELECT s.id AS session_id, s.user_id, u.org_id, u.email, u.role, s.expires_at
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = %(token_hash)s
  AND s.revoked_at IS NULL
  AND s.expires_at > now()
  AND u.disabled_at IS NULL
"""

AUTH_SESSION_REVOKE = """
UPDATE sessions SET revoked_at = now() WHERE id = %(session_id)s AND revoked_at IS NULL
"""

AUTH_SESSIONS_ACTIVE_BY_USER = """
SELECT id, created_at, expires_at, ip_address, user_agent
FROM sessions
WHERE user_id = %(user_id)s AND expires_at > now() AND revoked_at IS NULL
ORDER BY expires_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

# Every request authenticated by an X-API-Key header runs this lookup first.
AUTH_API_KEY_BY_HASH = """
SELECT id AS api_key_id, org_id, created_by
FROM api_keys
WHERE key_hash = %(key_hash)s AND active AND expires_at > now()
"""

# --- API keys -------------------------------------------------------------------

API_KEYS_ACTIVE_BY_ORG = """
SELECT id, name, key_prefix, created_by, created_at, last_used_at, expires_at
FROM api_keys
WHERE org_id = %(org_id)s AND active
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

API_KEY_INSERT = """
INSERT INTO api_keys (org_id, created_by, name, key_prefix, key_hash)
VALUES (%(org_id)s, %(user_id)s, %(name)s, %(key_prefix)s, %(key_hash)s)
RETURNING id, name, key_prefix, created_at, expires_at
"""

API_KEY_REVOKE = """
UPDATE api_keys SET active = false, revoked_at = now()
WHERE id = %(api_key_id)s AND org_id = %(org_id)s AND active
RETURNING id
"""

# --- audit trail ------------------------------------------------------------------

AUDIT_LOG_INSERT = """
INSERT INTO audit_logs (org_id, user_id, action, target_type, target_id, ip_address)
VALUES (%(org_id)s, %(user_id)s, %(action)s, %(target_type)s, %(target_id)s, %(ip_address)s)
"""

AUDIT_LOGS_BY_ORG = """
SELECT id, user_id, action, target_type, target_id, ip_address, created_at
FROM audit_logs
WHERE org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

AUDIT_LOGS_BY_USER = """
SELECT id, user_id, action, target_type, target_id, ip_address, created_at
FROM audit_logs
WHERE user_id = %(user_id)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

AUDIT_LOGS_BY_ACTION = """
SELECT id, user_id, action, target_type, target_id, ip_address, created_at
FROM audit_logs
WHERE action = %(action)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

# --- organisations, projects, users ---------------------------------------------------

ORGANIZATION_BY_SLUG = """
SELECT id, slug, name, plan, created_at
FROM organizations
WHERE slug = %(slug)s
"""

PROJECT_BY_ORG_SLUG = """
SELECT id, org_id, slug, name, repository_url, created_at, archived_at
FROM projects
WHERE org_id = %(org_id)s AND slug = %(slug)s
"""

PROJECTS_BY_ORG = """
SELECT id, slug, name, repository_url, created_at, archived_at
FROM projects
WHERE org_id = %(org_id)s
ORDER BY slug
LIMIT %(limit)s OFFSET %(offset)s
"""

USERS_BY_ORG = """
SELECT id, email, display_name, role, created_at, last_login_at
FROM users
WHERE org_id = %(org_id)s AND disabled_at IS NULL
ORDER BY email
LIMIT %(limit)s OFFSET %(offset)s
"""

# --- dashboard ----------------------------------------------------------------------

# One round trip for the overview cards; the windows keep each count on a
# time-bounded range of the per-organisation indexes.
DASHBOARD_OVERVIEW = """
SELECT
  (SELECT count(*) FROM projects p
    WHERE p.org_id = %(org_id)s AND p.archived_at IS NULL) AS active_projects,
  (SELECT count(*) FROM users u
    WHERE u.org_id = %(org_id)s AND u.disabled_at IS NULL) AS members,
  (SELECT coalesce(jsonb_object_agg(s.severity, s.n), '{}'::jsonb)
     FROM (SELECT i.severity, count(*) AS n FROM insight_issues i
            WHERE i.org_id = %(org_id)s AND i.deleted_at IS NULL AND i.resolved_at IS NULL
              AND i.created_at >= now() - interval '30 days'
            GROUP BY i.severity) s) AS open_issues_30d_by_severity,
  (SELECT count(*) FROM autopilot_runs r
    WHERE r.org_id = %(org_id)s AND r.created_at >= now() - interval '7 days') AS autopilot_runs_7d,
  (SELECT count(*) FROM guardian_tests g
    WHERE g.org_id = %(org_id)s AND g.status = 'failed'
      AND g.created_at >= now() - interval '7 days') AS guardian_failures_7d
"""

# --- insight issues -------------------------------------------------------------------

_ISSUE_LIST_COLUMNS = (
    "id, project_id, detector, severity, status, title, file_path, line_number, created_at, resolved_at"
)

# Newest first per organisation (target: idx_insight_issues_org_created).
INSIGHT_ISSUES_RECENT_BY_ORG = f"""
SELECT {_ISSUE_LIST_COLUMNS}
FROM insight_issues
WHERE org_id = %(org_id)s AND deleted_at IS NULL
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

# Unresolved issues of one severity (target: idx_insight_issues_severity).
INSIGHT_ISSUES_UNRESOLVED_BY_SEVERITY = f"""
SELECT {_ISSUE_LIST_COLUMNS}
FROM insight_issues
WHERE severity = %(severity)s AND resolved_at IS NULL
  AND org_id = %(org_id)s AND deleted_at IS NULL
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

# One project's issues in one status (target: idx_insight_issues_project).
INSIGHT_ISSUES_BY_PROJECT_STATUS = f"""
SELECT {_ISSUE_LIST_COLUMNS}
FROM insight_issues
WHERE project_id = %(project_id)s AND status = %(status)s
  AND org_id = %(org_id)s AND deleted_at IS NULL
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

# Unresolved issues from one detector (target: idx_insight_issues_detector).
INSIGHT_ISSUES_BY_DETECTOR = f"""
SELECT {_ISSUE_LIST_COLUMNS}
FROM insight_issues
WHERE detector = %(detector)s AND resolved_at IS NULL
  AND org_id = %(org_id)s AND deleted_at IS NULL
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

# File-path substring search (target: idx_insight_issues_file_path, GIN trigram).
# %(pattern)s is '%<escaped text>%' built by the app; the text has at least 3 characters.
INSIGHT_ISSUES_FILE_PATH_SEARCH = f"""
SELECT {_ISSUE_LIST_COLUMNS}
FROM insight_issues
WHERE file_path ILIKE %(pattern)s
  AND org_id = %(org_id)s AND deleted_at IS NULL
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

INSIGHT_ISSUE_DETAIL = """
SELECT i.id, i.org_id, i.project_id, p.slug AS project_slug, p.name AS project_name,
       i.detector, i.severity, i.status, i.title, i.message, i.file_path, i.line_number,
       i.created_at, i.updated_at, i.resolved_at
FROM insight_issues i
JOIN projects p ON p.id = i.project_id
WHERE i.id = %(issue_id)s AND i.org_id = %(org_id)s AND i.deleted_at IS NULL
"""

# --- autopilot runs ---------------------------------------------------------------------

_RUN_LIST_COLUMNS = (
    "id, project_id, user_id, status, trigger, issues_found, fixes_applied, created_at, "
    "finished_at, duration_ms"
)

AUTOPILOT_RUNS_BY_PROJECT_STATUS = f"""
SELECT {_RUN_LIST_COLUMNS}
FROM autopilot_runs
WHERE project_id = %(project_id)s AND status = %(status)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

AUTOPILOT_RUNS_BY_ORG = f"""
SELECT {_RUN_LIST_COLUMNS}
FROM autopilot_runs
WHERE org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

AUTOPILOT_RUNS_BY_STATUS = f"""
SELECT {_RUN_LIST_COLUMNS}
FROM autopilot_runs
WHERE status = %(status)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

AUTOPILOT_RUNS_BY_USER = f"""
SELECT {_RUN_LIST_COLUMNS}
FROM autopilot_runs
WHERE user_id = %(user_id)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

AUTOPILOT_RUN_STATUS = """
SELECT id, org_id, project_id, user_id, status, trigger, issues_found, fixes_applied,
       created_at, started_at, finished_at, duration_ms, error_message
FROM autopilot_runs
WHERE id = %(run_id)s AND org_id = %(org_id)s
"""

# Queue a manual run; inserts nothing (returns no row) when the project is not the caller's.
AUTOPILOT_RUN_INSERT = """
INSERT INTO autopilot_runs (org_id, project_id, user_id, status, trigger)
SELECT p.org_id, p.id, %(user_id)s, 'queued', 'manual'
FROM projects p
WHERE p.id = %(project_id)s AND p.org_id = %(org_id)s AND p.archived_at IS NULL
RETURNING id, org_id, project_id, user_id, status, trigger, issues_found, fixes_applied,
          created_at, started_at, finished_at, duration_ms, error_message
"""

# --- guardian tests -------------------------------------------------------------------

_TEST_LIST_COLUMNS = (
    "id, project_id, url, test_type, status, score, findings, duration_ms, created_at, completed_at"
)

GUARDIAN_TESTS_BY_URL = f"""
SELECT {_TEST_LIST_COLUMNS}
FROM guardian_tests
WHERE url = %(url)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

GUARDIAN_TESTS_BY_PROJECT = f"""
SELECT {_TEST_LIST_COLUMNS}
FROM guardian_tests
WHERE project_id = %(project_id)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

GUARDIAN_TESTS_BY_ORG = f"""
SELECT {_TEST_LIST_COLUMNS}
FROM guardian_tests
WHERE org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

GUARDIAN_TESTS_BY_STATUS = f"""
SELECT {_TEST_LIST_COLUMNS}
FROM guardian_tests
WHERE status = %(status)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

# --- analytics --------------------------------------------------------------------------

# %(bucket)s is 'hour', 'day' or 'week'; the range is [%(start)s, %(end)s); connections use
# TimeZone=UTC so buckets are UTC. %(event_type)s may be NULL for all event types.
_TIMESERIES_SELECT = """
SELECT date_trunc(%(bucket)s, occurred_at) AS bucket,
       count(*) AS events,
       count(DISTINCT user_id) AS users,
       avg(value) AS avg_value,
       max(value) AS max_value,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY value) AS p95_value
FROM analytics_events
"""

ANALYTICS_TIMESERIES_BY_ORG = (
    _TIMESERIES_SELECT
    + """WHERE org_id = %(org_id)s
  AND occurred_at >= %(start)s AND occurred_at < %(end)s
  AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s::text)
GROUP BY 1
ORDER BY 1
"""
)

ANALYTICS_TIMESERIES_BY_PROJECT = (
    _TIMESERIES_SELECT
    + """WHERE project_id = %(project_id)s
  AND occurred_at >= %(start)s AND occurred_at < %(end)s
  AND org_id = %(org_id)s
  AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s::text)
GROUP BY 1
ORDER BY 1
"""
)

# --- health -----------------------------------------------------------------------------

HEALTH_CHECK = "SELECT 1 AS ok"


def _collect() -> dict[str, str]:
    return {
        name: value
        for name, value in globals().items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }


ALL_QUERIES: dict[str, str] = _collect()
"""Every query by its stable name."""
