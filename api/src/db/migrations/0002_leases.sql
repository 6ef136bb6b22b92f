-- Named leases: background work that must run on one replica at a time. A replica holds a
-- lease until `expires_at` (ms since the epoch) and renews it while it works.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- A new command's order number is read from the host's newest one.
CREATE INDEX commands_host_seq ON commands (host_id, seq);
