-- Every append updates its conversation's row (last_seq, last_message_at) and its sender's
-- participant row (read_seq): room left on each page lets those updates stay HOT (the new
-- version on the same page, no new index entry). These tables, and the two queues that every
-- append feeds and drains (the search index's pending rows, the after-commit jobs), are
-- vacuumed after a few thousand dead rows instead of after a fifth of the table: a queue's
-- readers scan past its dead rows until then. (Pages written before this keep their fill
-- until a VACUUM FULL or a rewrite.)
ALTER TABLE conversations SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE participants SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE message_search_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_cost_delay = 0);
