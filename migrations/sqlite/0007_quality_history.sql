-- Quality history and alerts. See docs/quality-history.md.
--
-- History is stored "long": one row per (event type, producer, schema version, bucket,
-- metric, label) holding a count. Rows only ever grow by addition
-- (INSERT … ON CONFLICT … DO UPDATE SET value = value + excluded.value), so several gateway
-- instances flushing the same key at once add up exactly. Metrics and their labels:
--   outcome/accepted|warned|rejected|duplicate   events by outcome (their sum is the volume)
--   score_bucket/0..9                            scores 0–9 … 80–89, 90–100
--   score_sum/                                   sum of the scores
--   lag_bucket/0..18                             freshness lag (receive − event time) in the
--                                                fixed buckets of quality/src/history/bucket.rs
--   completeness_events/                         events whose optional fields were tracked
--   field_present/<JSON pointer>                 of those, events where the field was present
--                                                (a row, possibly 0, for every tracked field)
--   rule_failed/<rule name>                      events that failed the rule (at most 100
--                                                names per bucket; more count as `_other`)
-- bucket_ms is the start of the minute (quality_minutes) or hour (quality_hours), in ms
-- since the epoch. Minutes older than the rollup age are moved to hours, exactly once (the
-- move deletes with RETURNING and adds in one transaction); hours older than the retention
-- are deleted.
CREATE TABLE quality_minutes (
    event_type     TEXT    NOT NULL,
    producer       TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    bucket_ms      INTEGER NOT NULL,
    metric         TEXT    NOT NULL,
    -- '' when the metric has none.
    label          TEXT    NOT NULL,
    value          INTEGER NOT NULL,
    PRIMARY KEY (event_type, producer, schema_version, bucket_ms, metric, label)
);
CREATE INDEX quality_minutes_type_bucket ON quality_minutes (event_type, bucket_ms);
CREATE INDEX quality_minutes_bucket ON quality_minutes (bucket_ms);

CREATE TABLE quality_hours (
    event_type     TEXT    NOT NULL,
    producer       TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    bucket_ms      INTEGER NOT NULL,
    metric         TEXT    NOT NULL,
    label          TEXT    NOT NULL,
    value          INTEGER NOT NULL,
    PRIMARY KEY (event_type, producer, schema_version, bucket_ms, metric, label)
);
CREATE INDEX quality_hours_type_bucket ON quality_hours (event_type, bucket_ms);
CREATE INDEX quality_hours_bucket ON quality_hours (bucket_ms);

-- Alert settings of an event type: the validated JSON document of
-- PUT /v1/event-types/{type}/quality/alerts.
CREATE TABLE quality_alert_settings (
    event_type    TEXT    PRIMARY KEY,
    settings_json TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    updated_by    TEXT    NOT NULL
);

-- The state of each alert (score, dead_letter_rate, freshness_lag_p99, volume_drop,
-- volume_spike) of each event type. Transitions are claimed with a conditional UPDATE
-- (… WHERE state = 'ok' / 'firing'), so with several instances each fires and resolves once.
CREATE TABLE quality_alert_states (
    event_type       TEXT    NOT NULL,
    alert            TEXT    NOT NULL,
    -- ok | firing
    state            TEXT    NOT NULL,
    -- When the current state began.
    since_ms         INTEGER NOT NULL,
    -- The last value evaluated and the threshold it was compared with (NULL: not evaluated).
    value            REAL,
    threshold        REAL,
    evaluated_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (event_type, alert)
);
