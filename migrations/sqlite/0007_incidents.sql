-- Incidents and notifications.

-- When each monitor alerts (JSON AlertRules; missing keys take defaults).
ALTER TABLE monitors ADD COLUMN alert TEXT NOT NULL DEFAULT '{}';

-- A monitor's alert state as of its last transition; changed only by
-- compare-and-set on version, in the transaction that writes the incident
-- and its notifications.
CREATE TABLE alert_state (
    monitor_id   INTEGER PRIMARY KEY REFERENCES monitors(id) ON DELETE CASCADE,
    health       TEXT NOT NULL,            -- up | down
    since_tick   INTEGER NOT NULL,         -- the tick that confirmed it
    incident_id  INTEGER,                  -- the open incident while down
    version      INTEGER NOT NULL
);

CREATE TABLE incidents (
    id               INTEGER PRIMARY KEY,
    org_id           INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    monitor_id       INTEGER REFERENCES monitors(id) ON DELETE SET NULL,
    monitor_name     TEXT NOT NULL,
    started_at       INTEGER NOT NULL,     -- the first failing tick of the run that confirmed it
    confirmed_at     INTEGER NOT NULL,
    resolved_at      INTEGER,
    cause            TEXT NOT NULL,        -- JSON
    acknowledged_at  INTEGER,
    acknowledged_by  TEXT,
    reminded_at      INTEGER               -- the last reminder (or the opening)
);
CREATE INDEX incidents_org ON incidents(org_id, id DESC);
CREATE INDEX incidents_open ON incidents(resolved_at);

CREATE TABLE incident_events (
    id           INTEGER PRIMARY KEY,
    incident_id  INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,            -- opened | resolved | acknowledged | note | reminder
    actor        TEXT,
    detail       TEXT
);
CREATE INDEX incident_events_incident ON incident_events(incident_id, id);

CREATE TABLE channels (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    settings    TEXT NOT NULL,             -- sealed JSON ChannelSettings
    is_default  INTEGER NOT NULL DEFAULT 0,
    flagged     TEXT,                      -- why delivery stopped (a permanent failure)
    flagged_at  INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE monitor_channels (
    monitor_id  INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    channel_id  INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    PRIMARY KEY (monitor_id, channel_id)
);
CREATE INDEX monitor_channels_channel ON monitor_channels(channel_id);

-- The outbox: one row per (incident event, channel), written with the
-- transition; any node claims due rows with a lease and sends them.
CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY,
    incident_id      INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    channel_id       INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,        -- down | up | reminder
    created_at       INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    claimed_by       TEXT,
    claimed_until    INTEGER,
    delivered_at     INTEGER,
    failed_at        INTEGER,              -- given up
    last_error       TEXT
);
CREATE INDEX notifications_pending ON notifications(next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX notifications_incident ON notifications(incident_id, channel_id, id);
