-- Target queries of the performance indexes (sql/migrations/add-performance-indexes.sql).
--
-- One block per index, in migration order:
--   -- index: <index name>            the index the plan must use
--   -- query: <NAME>                  the reference_app/queries.py constant (same SQL, checked
--                                      by tests/unit/test_index_targets.py), or
--   -- referential-action: <fk>       the statement PostgreSQL itself runs for a foreign key's
--                                      ON DELETE action
--   -- params: <SELECT ...>           one row whose columns are the query's %(name)s values,
--                                      picked from the seeded data
--   <the SQL>;
-- tests/integration/test_index_explain.py runs EXPLAIN (FORMAT JSON) of each block on a
-- seeded, ANALYZEd database with every planner method enabled; bench/index_speedup.py times
-- them before and after the migration.

-- index: idx_insight_issues_org_created
-- query: INSIGHT_ISSUES_RECENT_BY_ORG
-- params: SELECT 1 AS org_id, 50 AS "limit", 0 AS "offset"
SELECT id, project_id, detector, severity, status, title, file_path, line_number, created_at, resolved_at
FROM insight_issues
WHERE org_id = %(org_id)s AND deleted_at IS NULL
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_insight_issues_severity
-- query: INSIGHT_ISSUES_UNRESOLVED_BY_SEVERITY
-- params: SELECT 'critical' AS severity, 1 AS org_id, 50 AS "limit", 0 AS "offset"
SELECT id, project_id, detector, severity, status, title, file_path, line_number, created_at, resolved_at
FROM insight_issues
WHERE severity = %(severity)s AND resolved_at IS NULL
  AND org_id = %(org_id)s AND deleted_at IS NULL
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_insight_issues_project
-- query: INSIGHT_ISSUES_BY_PROJECT_STATUS
-- params: SELECT id AS project_id, 'open' AS status, org_id, 50 AS "limit", 0 AS "offset" FROM projects WHERE org_id = 1 ORDER BY id LIMIT 1
SELECT id, project_id, detector, severity, status, title, file_path, line_number, created_at, resolved_at
FROM insight_issues
WHERE project_id = %(project_id)s AND status = %(status)s
  AND org_id = %(org_id)s AND deleted_at IS NULL
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_insight_issues_detector
-- query: INSIGHT_ISSUES_BY_DETECTOR
-- params: SELECT 'security/sql-injection' AS detector, 1 AS org_id, 50 AS "limit", 0 AS "offset"
SELECT id, project_id, detector, severity, status, title, file_path, line_number, created_at, resolved_at
FROM insight_issues
WHERE detector = %(detector)s AND resolved_at IS NULL
  AND org_id = %(org_id)s AND deleted_at IS NULL
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_insight_issues_file_path
-- query: INSIGHT_ISSUES_FILE_PATH_SEARCH
-- params: SELECT '%quartz_relay%' AS pattern, 1 AS org_id, 50 AS "limit", 0 AS "offset"
SELECT id, project_id, detector, severity, status, title, file_path, line_number, created_at, resolved_at
FROM insight_issues
WHERE file_path ILIKE %(pattern)s
  AND org_id = %(org_id)s AND deleted_at IS NULL
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_autopilot_runs_project_status
-- query: AUTOPILOT_RUNS_BY_PROJECT_STATUS
-- params: SELECT id AS project_id, 'failed' AS status, org_id, 50 AS "limit", 0 AS "offset" FROM projects WHERE org_id = 1 ORDER BY id LIMIT 1
SELECT id, project_id, user_id, status, trigger, issues_found, fixes_applied, created_at, finished_at, duration_ms
FROM autopilot_runs
WHERE project_id = %(project_id)s AND status = %(status)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_autopilot_runs_org
-- query: AUTOPILOT_RUNS_BY_ORG
-- params: SELECT 1 AS org_id, 50 AS "limit", 0 AS "offset"
SELECT id, project_id, user_id, status, trigger, issues_found, fixes_applied, created_at, finished_at, duration_ms
FROM autopilot_runs
WHERE org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_autopilot_runs_status_created
-- query: AUTOPILOT_RUNS_BY_STATUS
-- params: SELECT 'running' AS status, 1 AS org_id, 50 AS "limit", 0 AS "offset"
SELECT id, project_id, user_id, status, trigger, issues_found, fixes_applied, created_at, finished_at, duration_ms
FROM autopilot_runs
WHERE status = %(status)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_autopilot_runs_user
-- query: AUTOPILOT_RUNS_BY_USER
-- params: SELECT user_id, org_id, 50 AS "limit", 0 AS "offset" FROM autopilot_runs WHERE user_id IS NOT NULL ORDER BY id LIMIT 1
SELECT id, project_id, user_id, status, trigger, issues_found, fixes_applied, created_at, finished_at, duration_ms
FROM autopilot_runs
WHERE user_id = %(user_id)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_guardian_tests_url_created
-- query: GUARDIAN_TESTS_BY_URL
-- params: SELECT url, org_id, 50 AS "limit", 0 AS "offset" FROM guardian_tests ORDER BY id LIMIT 1
SELECT id, project_id, url, test_type, status, score, findings, duration_ms, created_at, completed_at
FROM guardian_tests
WHERE url = %(url)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_guardian_tests_project
-- query: GUARDIAN_TESTS_BY_PROJECT
-- params: SELECT id AS project_id, org_id, 50 AS "limit", 0 AS "offset" FROM projects WHERE org_id = 1 ORDER BY id LIMIT 1
SELECT id, project_id, url, test_type, status, score, findings, duration_ms, created_at, completed_at
FROM guardian_tests
WHERE project_id = %(project_id)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_guardian_tests_org
-- query: GUARDIAN_TESTS_BY_ORG
-- params: SELECT 1 AS org_id, 50 AS "limit", 0 AS "offset"
SELECT id, project_id, url, test_type, status, score, findings, duration_ms, created_at, completed_at
FROM guardian_tests
WHERE org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_guardian_tests_status
-- query: GUARDIAN_TESTS_BY_STATUS
-- params: SELECT 'error' AS status, 1 AS org_id, 50 AS "limit", 0 AS "offset"
SELECT id, project_id, url, test_type, status, score, findings, duration_ms, created_at, completed_at
FROM guardian_tests
WHERE status = %(status)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_sessions_user_expires
-- query: AUTH_SESSIONS_ACTIVE_BY_USER
-- params: SELECT user_id, 20 AS "limit", 0 AS "offset" FROM sessions ORDER BY id DESC LIMIT 1
SELECT id, created_at, expires_at, ip_address, user_agent
FROM sessions
WHERE user_id = %(user_id)s AND expires_at > now() AND revoked_at IS NULL
ORDER BY expires_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_sessions_token
-- query: AUTH_SESSION_BY_TOKEN
-- params: SELECT token_hash FROM sessions ORDER BY id DESC LIMIT 1
SELECT s.id AS session_id, s.user_id, u.org_id, u.email, u.role, s.expires_at
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = %(token_hash)s
  AND s.revoked_at IS NULL
  AND s.expires_at > now()
  AND u.disabled_at IS NULL;

-- index: idx_users_email
-- query: AUTH_USER_BY_EMAIL
-- params: SELECT email FROM users ORDER BY id LIMIT 1
SELECT id, org_id, email, display_name, role, password_hash
FROM users
WHERE email = %(email)s AND disabled_at IS NULL;

-- index: idx_users_org
-- query: USERS_BY_ORG
-- params: SELECT 1 AS org_id, 50 AS "limit", 0 AS "offset"
SELECT id, email, display_name, role, created_at, last_login_at
FROM users
WHERE org_id = %(org_id)s AND disabled_at IS NULL
ORDER BY email
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_api_keys_org_active
-- query: API_KEYS_ACTIVE_BY_ORG
-- params: SELECT 1 AS org_id, 20 AS "limit", 0 AS "offset"
SELECT id, name, key_prefix, created_by, created_at, last_used_at, expires_at
FROM api_keys
WHERE org_id = %(org_id)s AND active
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_api_keys_key_hash
-- query: AUTH_API_KEY_BY_HASH
-- params: SELECT key_hash FROM api_keys WHERE active ORDER BY id LIMIT 1
SELECT id AS api_key_id, org_id, created_by
FROM api_keys
WHERE key_hash = %(key_hash)s AND active AND expires_at > now();

-- index: idx_organizations_slug
-- query: ORGANIZATION_BY_SLUG
-- params: SELECT slug FROM organizations ORDER BY id DESC LIMIT 1
SELECT id, slug, name, plan, created_at
FROM organizations
WHERE slug = %(slug)s;

-- index: idx_projects_org_slug
-- query: PROJECT_BY_ORG_SLUG
-- params: SELECT org_id, slug FROM projects ORDER BY id LIMIT 1
SELECT id, org_id, slug, name, repository_url, created_at, archived_at
FROM projects
WHERE org_id = %(org_id)s AND slug = %(slug)s;

-- index: idx_analytics_events_org_time
-- query: ANALYTICS_TIMESERIES_BY_ORG
-- params: SELECT 1 AS org_id, 'hour' AS bucket, max(occurred_at) - interval '1 day' AS start, max(occurred_at) AS "end", NULL::text AS event_type FROM analytics_events
SELECT date_trunc(%(bucket)s, occurred_at) AS bucket,
       count(*) AS events,
       count(DISTINCT user_id) AS users,
       avg(value) AS avg_value,
       max(value) AS max_value,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY value) AS p95_value
FROM analytics_events
WHERE org_id = %(org_id)s
  AND occurred_at >= %(start)s AND occurred_at < %(end)s
  AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s::text)
GROUP BY 1
ORDER BY 1;

-- index: idx_analytics_events_project_time
-- query: ANALYTICS_TIMESERIES_BY_PROJECT
-- params: SELECT p.id AS project_id, p.org_id, 'day' AS bucket, a.newest - interval '7 days' AS start, a.newest AS "end", NULL::text AS event_type FROM projects p, (SELECT max(occurred_at) AS newest FROM analytics_events) a WHERE p.org_id = 1 ORDER BY p.id LIMIT 1
SELECT date_trunc(%(bucket)s, occurred_at) AS bucket,
       count(*) AS events,
       count(DISTINCT user_id) AS users,
       avg(value) AS avg_value,
       max(value) AS max_value,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY value) AS p95_value
FROM analytics_events
WHERE project_id = %(project_id)s
  AND occurred_at >= %(start)s AND occurred_at < %(end)s
  AND org_id = %(org_id)s
  AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s::text)
GROUP BY 1
ORDER BY 1;

-- index: idx_audit_logs_user_created
-- query: AUDIT_LOGS_BY_USER
-- params: SELECT user_id, org_id, 50 AS "limit", 0 AS "offset" FROM audit_logs WHERE user_id IS NOT NULL ORDER BY id LIMIT 1
SELECT id, user_id, action, target_type, target_id, ip_address, created_at
FROM audit_logs
WHERE user_id = %(user_id)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_audit_logs_org_created
-- query: AUDIT_LOGS_BY_ORG
-- params: SELECT 1 AS org_id, 50 AS "limit", 0 AS "offset"
SELECT id, user_id, action, target_type, target_id, ip_address, created_at
FROM audit_logs
WHERE org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_audit_logs_action
-- query: AUDIT_LOGS_BY_ACTION
-- params: SELECT 'member.removed' AS action, 1 AS org_id, 50 AS "limit", 0 AS "offset"
SELECT id, user_id, action, target_type, target_id, ip_address, created_at
FROM audit_logs
WHERE action = %(action)s AND org_id = %(org_id)s
ORDER BY created_at DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- index: idx_analytics_events_user
-- referential-action: users -> analytics_events ON DELETE SET NULL
-- params: SELECT user_id FROM analytics_events WHERE user_id IS NOT NULL ORDER BY id LIMIT 1
UPDATE ONLY analytics_events SET user_id = NULL WHERE %(user_id)s = user_id;

-- index: idx_insight_issues_org_fk
-- referential-action: organizations -> insight_issues ON DELETE CASCADE
-- params: SELECT max(id) AS org_id FROM organizations
DELETE FROM ONLY insight_issues WHERE %(org_id)s = org_id;

-- index: idx_api_keys_created_by
-- referential-action: users -> api_keys ON DELETE SET NULL
-- params: SELECT created_by AS user_id FROM api_keys WHERE created_by IS NOT NULL ORDER BY id LIMIT 1
UPDATE ONLY api_keys SET created_by = NULL WHERE %(user_id)s = created_by;

-- index: idx_api_keys_org
-- referential-action: organizations -> api_keys ON DELETE CASCADE
-- params: SELECT max(org_id) AS org_id FROM api_keys
DELETE FROM ONLY api_keys WHERE %(org_id)s = org_id;
