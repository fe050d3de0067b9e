-- OpenSeer schema, SQLite backend. Times are unix milliseconds (INTEGER).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE organizations (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    org_id        INTEGER NOT NULL REFERENCES organizations(id),
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at    INTEGER NOT NULL
);

-- Server-side sessions (actix-session store). Only a hash of the session key is kept.
CREATE TABLE sessions (
    key_hash   TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES organizations(id),
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE enrollment_tokens (
    id         INTEGER PRIMARY KEY,
    org_id     INTEGER NOT NULL REFERENCES organizations(id),
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE workers (
    id           INTEGER PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES organizations(id),
    name         TEXT NOT NULL,
    region       TEXT NOT NULL,
    version      TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    enrolled_at  INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at   INTEGER
);

CREATE TABLE monitors (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES organizations(id),
    name            TEXT NOT NULL,
    url             TEXT NOT NULL,
    method          TEXT NOT NULL,
    headers         TEXT NOT NULL,          -- JSON array of {name, value}
    body            TEXT,
    interval_s      INTEGER NOT NULL,
    timeout_ms      INTEGER NOT NULL,
    regions         TEXT NOT NULL,          -- JSON array; empty = any region
    expected_status TEXT NOT NULL,
    keyword         TEXT,
    enabled         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX monitors_org ON monitors(org_id);

-- One row per (monitor, region, scheduled tick): run_id is derived from those three.
CREATE TABLE results_raw (
    run_id        TEXT PRIMARY KEY,
    monitor_id    INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    region        TEXT NOT NULL,
    scheduled_at  INTEGER NOT NULL,
    started_at    INTEGER,
    received_at   INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    error_kind    TEXT,
    error_message TEXT,
    status_code   INTEGER,
    total_ms      REAL,
    body_bytes    INTEGER,
    worker_id     INTEGER
);
CREATE INDEX results_raw_monitor_time ON results_raw(monitor_id, scheduled_at DESC);
