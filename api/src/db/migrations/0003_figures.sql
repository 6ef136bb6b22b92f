-- What hosts report about themselves (or what the console scraped): the latest figures of
-- each host as JSON, with the error of the last failed scrape.
CREATE TABLE host_figures (
    host_id TEXT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    figures_json TEXT,
    error TEXT
);

-- A bounded status history per node (one hour), shared by every replica.
CREATE TABLE node_history (
    node_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    height BIGINT,
    block_age_secs BIGINT,
    alerts BIGINT NOT NULL,
    PRIMARY KEY (node_id, at_ms)
);
CREATE INDEX node_history_at ON node_history (at_ms);

-- Job logs being watched in the console: wanted until `wanted_until`; the host's latest
-- answer (lines as a JSON array, or an error) is kept with it.
CREATE TABLE job_logs (
    node_id TEXT NOT NULL,
    job TEXT NOT NULL,
    host_id TEXT NOT NULL,
    max_lines BIGINT NOT NULL,
    wanted_until BIGINT NOT NULL,
    at_ms BIGINT,
    lines_json TEXT,
    error TEXT,
    PRIMARY KEY (node_id, job)
);
CREATE INDEX job_logs_host ON job_logs (host_id, wanted_until);
