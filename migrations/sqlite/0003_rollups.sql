-- Rollups at 1 minute, 1 hour and 1 day per (monitor, region); see
-- node/src/rollup. `tier` is the bucket width in milliseconds.
CREATE TABLE rollups (
    monitor_id   INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    tier         INTEGER NOT NULL CHECK (tier IN (60000, 3600000, 86400000)),
    bucket_start INTEGER NOT NULL,
    region       TEXT NOT NULL,
    up           INTEGER NOT NULL,
    degraded     INTEGER NOT NULL,
    down         INTEGER NOT NULL,
    error        INTEGER NOT NULL,
    missed       INTEGER NOT NULL,
    -- Latency of checks that got an answer (up, degraded, down).
    lat_count    INTEGER NOT NULL,
    lat_min      REAL,
    lat_max      REAL,
    lat_sum      REAL NOT NULL,
    -- Per-phase sums over the checks that reported phases.
    phase_count  INTEGER NOT NULL,
    dns_sum      REAL NOT NULL,
    connect_sum  REAL NOT NULL,
    tls_sum      REAL NOT NULL,
    ttfb_sum     REAL NOT NULL,
    transfer_sum REAL NOT NULL,
    -- DDSketch of the latencies (node/src/rollup/sketch.rs encoding).
    sketch       BLOB NOT NULL,
    PRIMARY KEY (monitor_id, tier, bucket_start, region)
) WITHOUT ROWID;
CREATE INDEX rollups_retention ON rollups(tier, bucket_start);

-- Results received after `rolled_up_to` may not be in the rollups yet; a
-- node that starts scans them again.
CREATE TABLE rollup_progress (
    shard        INTEGER PRIMARY KEY,
    rolled_up_to INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX results_raw_received ON results_raw(received_at);
-- Retention deletes old rows in batches by time.
CREATE INDEX results_raw_scheduled ON results_raw(scheduled_at);
