-- The latest result of each (monitor, region), kept by the result insert in
-- the same transaction, so pages never scan results for it. `since` is the
-- scheduled time of the first result of the current outcome.
CREATE TABLE monitor_status (
    monitor_id    BIGINT NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    region        TEXT NOT NULL,
    scheduled_at  BIGINT NOT NULL,
    outcome       TEXT NOT NULL,
    status_code   BIGINT,
    total_ms      DOUBLE PRECISION,
    error_message TEXT,
    since         BIGINT NOT NULL,
    PRIMARY KEY (monitor_id, region)
);

INSERT INTO monitor_status (monitor_id, region, scheduled_at, outcome, status_code, total_ms, error_message, since)
SELECT r.monitor_id, r.region, r.scheduled_at, r.outcome, r.status_code, r.total_ms, r.error_message, r.scheduled_at
FROM results_raw r
JOIN (SELECT monitor_id, region, MAX(scheduled_at) AS at FROM results_raw GROUP BY monitor_id, region) latest
  ON latest.monitor_id = r.monitor_id AND latest.region = r.region AND latest.at = r.scheduled_at;
