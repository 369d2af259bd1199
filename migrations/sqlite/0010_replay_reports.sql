-- What a replay job's sink reported when its runs ended (a dead-letter recovery: how many
-- dead letters were accepted, were duplicates, were rejected again…), as JSON; summed over
-- the runs of a job that was paused or stopped with the server. See docs/replay.md.
ALTER TABLE replay_jobs ADD COLUMN report_json TEXT;
