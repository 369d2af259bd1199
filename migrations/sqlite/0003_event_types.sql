-- Event types: the metadata of each event type (owner, description, tags, partition key,
-- enforcement, topic settings). The schemas themselves live in the registry under the
-- subject {topic}-value. Rows are never deleted: a deleted event type keeps its row with
-- deleted_at_ms set (its topic and schemas are kept too).
CREATE TABLE event_types (
    name            TEXT    PRIMARY KEY,
    owner           TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    -- JSON array of tags, sorted; event_type_tags indexes them for filtering.
    tags_json       TEXT    NOT NULL,
    -- JSON pointer (RFC 6901) of the field whose value is the record key; NULL: none.
    partition_key   TEXT,
    -- enforce | warn | shadow
    enforcement     TEXT    NOT NULL,
    partitions      INTEGER NOT NULL,
    -- NULL: unlimited.
    retention_ms    INTEGER,
    retention_bytes INTEGER,
    -- The subject-level compatibility level; NULL: the global level applies.
    compatibility   TEXT,
    created_at_ms   INTEGER NOT NULL,
    created_by      TEXT    NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    updated_by      TEXT    NOT NULL,
    -- Grows by one with every change (optimistic concurrency).
    revision        INTEGER NOT NULL,
    -- NULL: live.
    deleted_at_ms   INTEGER
);
CREATE INDEX event_types_owner ON event_types (owner);

CREATE TABLE event_type_tags (
    name TEXT NOT NULL REFERENCES event_types (name),
    tag  TEXT NOT NULL,
    PRIMARY KEY (name, tag)
);
CREATE INDEX event_type_tags_tag ON event_type_tags (tag);
