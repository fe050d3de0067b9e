-- A session's id survives key rotation: live streams check their own
-- session is still there, not just any session of the user.
ALTER TABLE sessions ADD COLUMN sid TEXT;
CREATE INDEX sessions_sid ON sessions(sid);
