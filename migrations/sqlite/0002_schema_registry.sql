-- The Confluent-compatible schema registry. Ids and versions are allocated by the store
-- inside a write transaction that first takes the lock row in registry_counters (see
-- registry/src/store), so the same SQL works on SQLite and PostgreSQL.

-- Every distinct schema ever registered, by global id. Rows are never deleted, so an id is
-- never handed out again for a different schema.
CREATE TABLE registry_schemas (
    id                     INTEGER PRIMARY KEY,
    schema_type            TEXT    NOT NULL,
    schema_text            TEXT    NOT NULL,
    canonical_text         TEXT    NOT NULL,
    references_json        TEXT    NOT NULL,
    fingerprint            TEXT    NOT NULL UNIQUE,
    normalized_fingerprint TEXT    NOT NULL,
    created_at_ms          INTEGER NOT NULL
);
CREATE INDEX registry_schemas_normalized ON registry_schemas (normalized_fingerprint);

-- The references of each schema, for `referencedby` and the "reference exists" refusal.
CREATE TABLE registry_schema_references (
    schema_id INTEGER NOT NULL REFERENCES registry_schemas (id),
    position  INTEGER NOT NULL,
    name      TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    PRIMARY KEY (schema_id, position)
);
CREATE INDEX registry_schema_references_target ON registry_schema_references (subject, version);

-- Versions of each subject. Soft-deleted versions keep their row (deleted = 1).
CREATE TABLE registry_subject_versions (
    subject       TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    schema_id     INTEGER NOT NULL REFERENCES registry_schemas (id),
    deleted       INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (subject, version)
);
CREATE INDEX registry_subject_versions_schema ON registry_subject_versions (schema_id);

-- Compatibility level and mode; scope '' is the global setting, any other scope a subject.
CREATE TABLE registry_settings (
    scope         TEXT PRIMARY KEY,
    compatibility TEXT,
    mode          TEXT
);

-- The last schema id handed out; its row is also the lock every registry write takes first.
CREATE TABLE registry_counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO registry_counters (name, value) VALUES ('schema_id', 0);
