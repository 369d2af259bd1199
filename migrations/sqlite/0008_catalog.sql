-- Catalog data: the fields of an event type marked as personal data (PII), a reservoir of
-- recent sample events, and the top dead-letter reasons with an example each. See
-- docs/catalog-data.md.

-- PII marks: one row per marked field of an event type. pointer is a field pointer as the
-- schema field list writes it (RFC 6901, `*` for every element of an array). A PUT of the
-- set replaces it in one transaction with an audit entry (event_type.pii); marks that stay
-- keep who marked them and when. Rows outlive a deleted event type, so a type created again
-- under the same name starts with the same fields redacted.
CREATE TABLE event_type_pii (
    event_type   TEXT    NOT NULL,
    pointer      TEXT    NOT NULL,
    marked_by    TEXT    NOT NULL,
    marked_at_ms INTEGER NOT NULL,
    PRIMARY KEY (event_type, pointer)
);

-- Sample events: per (event type, schema version) a ring of at most 5 slots (0–4) holding
-- the newest accepted events the gateway sampled (at most one per second per instance).
-- A new sample takes a free slot, else the slot of the oldest. event_json is the event as
-- JSON with the type's PII fields replaced by "[redacted]" before it was written; an event
-- over 64 KiB as JSON is stored as a JSON string saying so, with the start of the text.
-- Rows of event types that are no longer live, and rows older than the quality-history
-- retention, are deleted by the quality maintenance pass.
CREATE TABLE catalog_samples (
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    slot           INTEGER NOT NULL,
    producer       TEXT    NOT NULL,
    received_at_ms INTEGER NOT NULL,
    event_json     TEXT    NOT NULL,
    PRIMARY KEY (event_type, schema_version, slot)
);

-- Dead-letter reasons: per (event type, reason code) the number of rejected events since
-- the row was made (flushes add to it: INSERT … ON CONFLICT … count = count + excluded.count,
-- so instances add up), when the last was seen, and the latest example: the event (redacted
-- as samples are; NULL when it could not be read as JSON) and its violations as a JSON array
-- of {pointer, message} (at most 20). Pruned as catalog_samples is.
CREATE TABLE catalog_dead_letters (
    event_type      TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    count           INTEGER NOT NULL,
    last_seen_ms    INTEGER NOT NULL,
    example_json    TEXT,
    violations_json TEXT    NOT NULL,
    PRIMARY KEY (event_type, reason)
);
CREATE INDEX catalog_dead_letters_last_seen ON catalog_dead_letters (last_seen_ms);
CREATE INDEX catalog_samples_received ON catalog_samples (received_at_ms);
