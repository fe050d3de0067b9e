-- Rollups at 1 minute, 1 hour and 1 day per (monitor, region); see
-- node/src/rollup. `tier` is the bucket width in milliseconds.
CREATE TABLE rollups (
    monitor_id   BIGINT NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    tier         BIGINT NOT NULL CHECK (tier IN (60000, 3600000, 86400000)),
    bucket_start BIGINT NOT NULL,
    region       TEXT NOT NULL,
    up           BIGINT NOT NULL,
    degraded     BIGINT NOT NULL,
    down         BIGINT NOT NULL,
    error        BIGINT NOT NULL,
    missed       BIGINT NOT NULL,
    -- Latency of checks that got an answer (up, degraded, down).
    lat_count    BIGINT NOT NULL,
    lat_min      DOUBLE PRECISION,
    lat_max      DOUBLE PRECISION,
    lat_sum      DOUBLE PRECISION NOT NULL,
    -- Per-phase sums over the checks that reported phases.
    phase_count  BIGINT NOT NULL,
    dns_sum      DOUBLE PRECISION NOT NULL,
    connect_sum  DOUBLE PRECISION NOT NULL,
    tls_sum      DOUBLE PRECISION NOT NULL,
    ttfb_sum     DOUBLE PRECISION NOT NULL,
    transfer_sum DOUBLE PRECISION NOT NULL,
    -- DDSketch of the latencies (node/src/rollup/sketch.rs encoding).
    sketch       BYTEA NOT NULL,
    PRIMARY KEY (monitor_id, tier, bucket_start, region)
);
CREATE INDEX rollups_retention ON rollups(tier, bucket_start);

-- Results received after `rolled_up_to` may not be in the rollups yet; a
-- node that starts scans them again.
CREATE TABLE rollup_progress (
    shard        BIGINT PRIMARY KEY,
    rolled_up_to BIGINT NOT NULL
);

CREATE INDEX results_raw_received ON results_raw(received_at);
