-- Check engine: per-phase timings, TLS details, redirects, assertion results,
-- and per-monitor request options and assertions.

ALTER TABLE results_raw ADD COLUMN dns_ms REAL;
ALTER TABLE results_raw ADD COLUMN connect_ms REAL;
ALTER TABLE results_raw ADD COLUMN tls_ms REAL;
ALTER TABLE results_raw ADD COLUMN ttfb_ms REAL;
ALTER TABLE results_raw ADD COLUMN transfer_ms REAL;
-- JSON: {"tls": {...}, "redirects": [...], "assertions": [...]}
ALTER TABLE results_raw ADD COLUMN details TEXT;

-- JSON: follow_redirects, max_redirects, verify_tls, ip_family, assertions,
-- degraded_above_ms, cert_expiry_days
ALTER TABLE monitors ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
