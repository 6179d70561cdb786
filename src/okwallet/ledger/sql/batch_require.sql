-- Raised inside a sealed batch (engine.run_batch_sealed): BEGIN, lock, INSERT, UPDATE and COMMIT
-- travel in one pipeline, so the client cannot look at the locked state before the COMMIT. The
-- UPDATE returns per account whether every ok result is certain to stand on the state it locked
-- (see _Batch.certain_on_locked); if one is not, this aborts the transaction before its COMMIT.
CREATE OR REPLACE FUNCTION ledger_batch_require(fine boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT coalesce(fine, true) THEN
        RAISE EXCEPTION 'ledger batch evaluated on a state that moved' USING ERRCODE = 'OKW01';
    END IF;
    RETURN true;
END
$$;
