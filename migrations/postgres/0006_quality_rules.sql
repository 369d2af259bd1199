-- Quality rules of event types: every version of each type's rule set, never changed once
-- written. The current rule set is the highest version; version numbers start at 1 and
-- grow by one (the primary key makes two concurrent writers of the same version collide).
-- body: the rule-set document as JSON ({"rules": [...], "weights": {...}}).
CREATE TABLE quality_rules (
    event_type    TEXT    NOT NULL,
    version       BIGINT  NOT NULL,
    body          TEXT    NOT NULL,
    created_at_ms BIGINT  NOT NULL,
    created_by    TEXT    NOT NULL,
    PRIMARY KEY (event_type, version)
);
