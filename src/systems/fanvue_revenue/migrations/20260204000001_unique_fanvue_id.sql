-- One row per Fanvue transaction: the constraint the sync's insert-if-absent relies on.
CREATE UNIQUE INDEX ux_fanvue_transactions_fanvue_id ON fanvue_transactions (fanvue_id);
