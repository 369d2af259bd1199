-- Per-type gateway settings of event types.
-- shadow_version: the candidate version of the type's subject that `shadow` enforcement
-- checks every event against (NULL: none named; shadow then acts as enforce).
ALTER TABLE event_types ADD COLUMN shadow_version BIGINT;
-- max_event_bytes: the largest event the gateway accepts for this type (NULL: the gateway's
-- own limit).
ALTER TABLE event_types ADD COLUMN max_event_bytes BIGINT;
