-- Performance indexes for the Studio Hub database (30 indexes).
--
-- Safe on a live database: every index is built CONCURRENTLY (writes continue), IF NOT
-- EXISTS makes a rerun skip finished indexes, and the timeouts below bound how long a
-- build waits for locks and runs. CREATE INDEX CONCURRENTLY cannot run inside a
-- transaction block: run this file in autocommit mode, one statement at a time, e.g.
--     psql -v ON_ERROR_STOP=1 -d studiohub -f sql/migrations/add-performance-indexes.sql
-- A cancelled or failed concurrent build leaves an INVALID index that IF NOT EXISTS then
-- skips silently; the Pulumi IndexMigration resource (components/providers/) detects and
-- rebuilds those, and compares every definition with this file.
--
-- Requires the pg_trgm extension (created by DatabaseTuning) for the trigram index.
-- Each index names the query it serves: reference_app/queries.py holds that SQL and
-- sql/verify/index_targets.sql the EXPLAIN check for it.

-- How long one build may wait for a lock (the table's SHARE UPDATE EXCLUSIVE lock, and
-- each older transaction it waits out) before it gives up; the runner retries with backoff.
SET lock_timeout = '30s';
-- Upper bound for one index build on the largest table.
SET statement_timeout = '30min';

-- 1. Insight issues (5 indexes) -------------------------------------------------------

-- INSIGHT_ISSUES_RECENT_BY_ORG: newest issues of an organisation, soft-deleted excluded.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_insight_issues_org_created
    ON insight_issues (org_id, created_at DESC)
    WHERE deleted_at IS NULL;

-- INSIGHT_ISSUES_UNRESOLVED_BY_SEVERITY: unresolved issues of one severity, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_insight_issues_severity
    ON insight_issues (severity, created_at DESC)
    WHERE resolved_at IS NULL;

-- INSIGHT_ISSUES_BY_PROJECT_STATUS: one project's issues in one status, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_insight_issues_project
    ON insight_issues (project_id, status, created_at DESC);

-- INSIGHT_ISSUES_BY_DETECTOR: unresolved issues from one detector, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_insight_issues_detector
    ON insight_issues (detector, created_at DESC)
    WHERE resolved_at IS NULL;

-- INSIGHT_ISSUES_FILE_PATH_SEARCH: file_path ILIKE '%text%' (trigram, >= 3 characters).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_insight_issues_file_path
    ON insight_issues USING gin (file_path gin_trgm_ops);

-- 2. Autopilot runs (4 indexes) -------------------------------------------------------

-- AUTOPILOT_RUNS_BY_PROJECT_STATUS: a project's runs in one status, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_autopilot_runs_project_status
    ON autopilot_runs (project_id, status, created_at DESC);

-- AUTOPILOT_RUNS_BY_ORG (and the dashboard's 7-day run count).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_autopilot_runs_org
    ON autopilot_runs (org_id, created_at DESC);

-- AUTOPILOT_RUNS_BY_STATUS: runs in one status (queued, running, failed...), newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_autopilot_runs_status_created
    ON autopilot_runs (status, created_at DESC);

-- AUTOPILOT_RUNS_BY_USER: a user's activity.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_autopilot_runs_user
    ON autopilot_runs (user_id, created_at DESC);

-- 3. Guardian tests (4 indexes) -------------------------------------------------------

-- GUARDIAN_TESTS_BY_URL: history of one page's checks.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_guardian_tests_url_created
    ON guardian_tests (url, created_at DESC);

-- GUARDIAN_TESTS_BY_PROJECT
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_guardian_tests_project
    ON guardian_tests (project_id, created_at DESC);

-- GUARDIAN_TESTS_BY_ORG (and the dashboard's 7-day failure count).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_guardian_tests_org
    ON guardian_tests (org_id, created_at DESC);

-- GUARDIAN_TESTS_BY_STATUS: failed / error / running tests, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_guardian_tests_status
    ON guardian_tests (status, created_at DESC);

-- 4. Authentication (4 indexes) -------------------------------------------------------

-- AUTH_SESSIONS_ACTIVE_BY_USER: a user's unexpired sessions, latest expiry first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sessions_user_expires
    ON sessions (user_id, expires_at DESC);

-- AUTH_SESSION_BY_TOKEN: runs on every bearer-token request.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sessions_token
    ON sessions (token_hash);

-- AUTH_USER_BY_EMAIL: login (emails are stored lower-case).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email
    ON users (email);

-- USERS_BY_ORG: an organisation's members ordered by email.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_org
    ON users (org_id, email);

-- 5. API keys (2 indexes) -------------------------------------------------------------

-- API_KEYS_ACTIVE_BY_ORG: an organisation's active keys, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_api_keys_org_active
    ON api_keys (org_id, created_at DESC)
    WHERE active;

-- AUTH_API_KEY_BY_HASH: runs on every X-API-Key request.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_api_keys_key_hash
    ON api_keys (key_hash);

-- 6. Projects and organisations (2 indexes) -------------------------------------------

-- ORGANIZATION_BY_SLUG: URL routing /orgs/<slug>.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_organizations_slug
    ON organizations (slug);

-- PROJECT_BY_ORG_SLUG (nested routing) and PROJECTS_BY_ORG (ordered by slug).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_projects_org_slug
    ON projects (org_id, slug);

-- 7. Analytics (2 indexes) ------------------------------------------------------------

-- ANALYTICS_TIMESERIES_BY_ORG: an organisation's events in a time range.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_analytics_events_org_time
    ON analytics_events (org_id, occurred_at);

-- ANALYTICS_TIMESERIES_BY_PROJECT: a project's events in a time range.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_analytics_events_project_time
    ON analytics_events (project_id, occurred_at);

-- 8. Audit logs (3 indexes) -----------------------------------------------------------

-- AUDIT_LOGS_BY_USER: a user's activity.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audit_logs_user_created
    ON audit_logs (user_id, created_at DESC);

-- AUDIT_LOGS_BY_ORG: the organisation's audit trail.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audit_logs_org_created
    ON audit_logs (org_id, created_at DESC);

-- AUDIT_LOGS_BY_ACTION: one kind of action (api_key.revoked, member.removed...).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_audit_logs_action
    ON audit_logs (action, created_at DESC);

-- 9. Foreign keys with ON DELETE actions (4 indexes) ---------------------------------
-- Deleting a user or an organisation makes PostgreSQL run a referential action on every
-- referencing table (UPDATE ... SET NULL / DELETE ... WHERE fk = $1). These foreign keys
-- have no other index with the column first (the partial indexes above do not match the
-- action's WHERE clause), so each delete would scan the whole table under lock.

-- analytics_events.user_id -> users ON DELETE SET NULL
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_analytics_events_user
    ON analytics_events (user_id);

-- insight_issues.org_id -> organizations ON DELETE CASCADE
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_insight_issues_org_fk
    ON insight_issues (org_id);

-- api_keys.created_by -> users ON DELETE SET NULL
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_api_keys_created_by
    ON api_keys (created_by);

-- api_keys.org_id -> organizations ON DELETE CASCADE
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_api_keys_org
    ON api_keys (org_id);
