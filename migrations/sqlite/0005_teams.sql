-- Teams: a user belongs to organizations through memberships, each with a
-- role; invitations; two-factor sign-in; scoped, expiring tokens; the audit
-- log. Runs with foreign keys off (see migrate.rs): users is rebuilt
-- without its organization and role, which move to memberships.

CREATE TABLE memberships (
    org_id     INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

-- The first administrator of each organization becomes its owner, the
-- other administrators stay admins, members become editors.
INSERT INTO memberships (org_id, user_id, role, created_at)
SELECT u.org_id, u.id,
       CASE
           WHEN u.role = 'admin' AND u.id = (SELECT MIN(a.id) FROM users a WHERE a.org_id = u.org_id AND a.role = 'admin') THEN 'owner'
           WHEN u.role = 'admin' THEN 'admin'
           ELSE 'editor'
       END,
       u.created_at
FROM users u;

CREATE TABLE users_new (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name            TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    -- TOTP secret, sealed with the node's secrets key; set while enrolling,
    -- in force once totp_enabled_at is set.
    totp_secret     TEXT,
    totp_enabled_at INTEGER,
    -- The last time step a code was accepted for: a code is good once.
    totp_last_step  INTEGER,
    -- The organization a sign-in opens.
    last_org_id     INTEGER REFERENCES organizations(id) ON DELETE SET NULL,
    created_at      INTEGER NOT NULL
);
INSERT INTO users_new (id, email, name, password_hash, last_org_id, created_at)
SELECT id, email, name, password_hash, org_id, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

ALTER TABLE organizations ADD COLUMN require_2fa INTEGER NOT NULL DEFAULT 0;

-- The organization a session is in, so removing a member ends exactly
-- their sessions in that organization.
ALTER TABLE sessions ADD COLUMN org_id INTEGER;
CREATE INDEX sessions_org_user ON sessions(org_id, user_id);

CREATE TABLE invitations (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    -- Who it is for (optional): then only that address may accept it.
    email       TEXT,
    token_hash  TEXT NOT NULL UNIQUE,
    created_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER,
    accepted_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    revoked_at  INTEGER
);
CREATE INDEX invitations_org ON invitations(org_id);

CREATE TABLE recovery_codes (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

-- Tokens made before scopes existed could change monitors: write.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'write', 'admin'));
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;

ALTER TABLE enrollment_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE enrollment_tokens ADD COLUMN max_uses INTEGER;
ALTER TABLE enrollment_tokens ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;

-- Who did what to which object, and when. org_id is NULL for events of
-- the instance (a failed sign-in for an unknown address).
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER REFERENCES organizations(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    actor_id    INTEGER,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT,
    object_id   TEXT,
    detail      TEXT,
    ip          TEXT
);
CREATE INDEX audit_log_org_id ON audit_log(org_id, id DESC);
CREATE INDEX audit_log_at ON audit_log(at);
