-- Foundation: the audit log every schema change, metadata change and replay writes to.
-- Times are milliseconds since the Unix epoch, stored as integers on every backend.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms        INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    target_kind  TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    before_json  TEXT,
    after_json   TEXT
);
CREATE INDEX audit_log_target ON audit_log (target_kind, target, at_ms);
