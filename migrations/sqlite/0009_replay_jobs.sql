-- Replay jobs and their checkpoints. See docs/replay.md.

-- One row per job. The request is kept as accepted (request_json: event types, the range as
-- given, filters, target, rate, limit) next to what it was resolved to when accepted
-- (selection_json: topics and the absolute [from, to) range; target_json). plan_json is the
-- offsets fixed when the job first started — a job resumed after a restart keeps them, so it
-- never chases the live tail. state is where the job is (pending | running | paused |
-- completed | cancelled | failed); desired is what its owner last asked for (run | pause |
-- cancel), which the runner follows between batches. The counts are copied from the
-- checkpoints whenever the runner reports progress.
CREATE TABLE replay_jobs (
    id             TEXT    PRIMARY KEY,
    request_json   TEXT    NOT NULL,
    selection_json TEXT    NOT NULL,
    target_json    TEXT    NOT NULL,
    rate_per_sec   INTEGER,
    max_events     INTEGER,
    state          TEXT    NOT NULL,
    desired        TEXT    NOT NULL,
    plan_json      TEXT,
    emitted        INTEGER NOT NULL,
    filtered       INTEGER NOT NULL,
    unreadable     INTEGER NOT NULL,
    error          TEXT,
    created_at_ms  INTEGER NOT NULL,
    created_by     TEXT    NOT NULL,
    started_at_ms  INTEGER,
    finished_at_ms INTEGER,
    updated_at_ms  INTEGER NOT NULL
);
CREATE INDEX replay_jobs_state ON replay_jobs (state);
CREATE INDEX replay_jobs_created ON replay_jobs (created_at_ms);

-- The event types a job reads, for "replays of this event type" (the catalog's replay history).
CREATE TABLE replay_job_types (
    job_id     TEXT NOT NULL REFERENCES replay_jobs (id),
    event_type TEXT NOT NULL,
    PRIMARY KEY (job_id, event_type)
);
CREATE INDEX replay_job_types_type ON replay_job_types (event_type);

-- Per job and source partition: everything below next_offset is done, and what was emitted
-- is durable in the target at sink_position (bytes of an export file; 0 for topics). Written
-- only after the target confirmed the batch, so a job killed at any point resumes from here
-- with no gap and no duplicate.
CREATE TABLE replay_checkpoints (
    job_id        TEXT    NOT NULL REFERENCES replay_jobs (id),
    topic         TEXT    NOT NULL,
    partition_id  INTEGER NOT NULL,
    next_offset   INTEGER NOT NULL,
    emitted       INTEGER NOT NULL,
    filtered      INTEGER NOT NULL,
    unreadable    INTEGER NOT NULL,
    sink_position INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (job_id, topic, partition_id)
);
