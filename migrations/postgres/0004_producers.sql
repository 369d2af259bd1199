-- Producers, their API keys and what they may publish. A key is shown once, when issued;
-- only its SHA-256 is stored (keys are 32 random bytes, so a fast hash is enough: there is
-- nothing to brute-force). Rows are never deleted: a revoked key keeps its row.
CREATE TABLE producers (
    name          TEXT    PRIMARY KEY,
    owner         TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    created_at_ms BIGINT  NOT NULL,
    created_by    TEXT    NOT NULL
);
CREATE INDEX producers_owner ON producers (owner);

CREATE TABLE producer_keys (
    id            BIGSERIAL PRIMARY KEY,
    producer      TEXT    NOT NULL REFERENCES producers (name),
    -- The first characters of the key (`trb_` and 8 more), for people to tell keys apart.
    prefix        TEXT    NOT NULL,
    -- Lowercase hex SHA-256 of the whole key.
    key_sha256    TEXT    NOT NULL UNIQUE,
    created_at_ms BIGINT  NOT NULL,
    -- NULL: live. In the future: still valid until then (rotation grace period).
    revoked_at_ms BIGINT,
    -- Refreshed at most once per cache lifetime, not on every request.
    last_used_at_ms BIGINT
);
CREATE INDEX producer_keys_producer ON producer_keys (producer);

CREATE TABLE producer_grants (
    producer TEXT NOT NULL REFERENCES producers (name),
    -- An event-type name or a glob such as `orders.*`.
    pattern  TEXT NOT NULL,
    PRIMARY KEY (producer, pattern)
);
