-- Maintenance windows: checks run and are stored, no incident opens.

CREATE TABLE maintenance_windows (
    id            INTEGER PRIMARY KEY,
    org_id        INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    schedule      TEXT NOT NULL,           -- JSON protocol::maintenance::Schedule
    all_monitors  INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX maintenance_windows_org ON maintenance_windows(org_id, id);

CREATE TABLE maintenance_monitors (
    window_id   INTEGER NOT NULL REFERENCES maintenance_windows(id) ON DELETE CASCADE,
    monitor_id  INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    PRIMARY KEY (window_id, monitor_id)
);
