-- A command a host refused for a while (BlockingJobRunning with a retry hint) is issued again
-- once the hint has passed: `retried_by` names the new command, or is empty when a later
-- command for the same node made the retry moot. Set once, so replicas never issue it twice.
ALTER TABLE commands ADD COLUMN retried_by TEXT;
