-- One transfer in one round trip. Same rules, same order as okwallet/ledger/engine.py.
-- Results go out through the OUT columns and RETURN NEXT (RETURN QUERY would run a query each).
-- Locking: both accounts are locked FOR NO KEY UPDATE in id order before any balance or key is read
-- (the same mode the balance UPDATE takes anyway: writers of an account exclude each other, while
-- rows elsewhere that reference the account by foreign key can still be inserted meanwhile).
CREATE OR REPLACE FUNCTION ledger_transfer_create(
    p_key text, p_debit bigint, p_credit bigint, p_amount bigint, p_ledger integer, p_code text,
    p_kind text, p_pending_key text, p_timeout integer, p_memo text
) RETURNS TABLE(result text, transfer_id bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    max_amount constant bigint := 1000000000000000;
    max_balance constant bigint := 9223372036854775807;
    e ledger_transfer%ROWTYPE;
    p ledger_transfer%ROWTYPE;
    a ledger_account%ROWTYPE;
    dr ledger_account%ROWTYPE;
    cr ledger_account%ROWTYPE;
    v_found_dr boolean := false;
    v_found_cr boolean := false;
    v_done text;
    v_fail text;
    v_amount bigint;
    v_id bigint;
    v_now timestamptz := now();
BEGIN
    IF p_key IS NULL OR p_key = '' THEN result := 'key_must_not_be_empty'; RETURN NEXT; RETURN; END IF;
    IF length(p_key) > 64 THEN result := 'key_too_long'; RETURN NEXT; RETURN; END IF;
    IF p_kind IS NULL OR p_kind NOT IN ('single', 'pending', 'post', 'void', 'expire') THEN
        result := 'flags_are_mutually_exclusive'; RETURN NEXT; RETURN;
    END IF;

    IF p_kind IN ('post', 'void', 'expire') THEN
        IF p_pending_key IS NULL OR p_pending_key = '' THEN result := 'pending_id_required'; RETURN NEXT; RETURN; END IF;
        IF coalesce(p_timeout, 0) <> 0 THEN result := 'timeout_reserved_for_pending_transfer'; RETURN NEXT; RETURN; END IF;
        IF p_amount IS NOT NULL AND p_amount <= 0 THEN result := 'amount_must_be_positive'; RETURN NEXT; RETURN; END IF;
        IF p_amount IS NOT NULL AND p_amount > max_amount THEN result := 'amount_too_large'; RETURN NEXT; RETURN; END IF;
        SELECT * INTO p FROM ledger_transfer WHERE key = p_pending_key;
        IF NOT FOUND THEN result := 'pending_transfer_not_found'; RETURN NEXT; RETURN; END IF;
        IF p.kind <> 'pending' THEN result := 'pending_transfer_not_pending'; RETURN NEXT; RETURN; END IF;
        FOR a IN SELECT * FROM ledger_account WHERE id IN (p.debit_account_id, p.credit_account_id) ORDER BY id FOR NO KEY UPDATE LOOP
            IF a.id = p.debit_account_id THEN dr := a; ELSE cr := a; END IF;
        END LOOP;
        SELECT * INTO e FROM ledger_transfer WHERE key = p_key;
        IF FOUND THEN
            IF e.kind <> p_kind THEN result := 'exists_with_different_kind'; RETURN NEXT; RETURN; END IF;
            IF e.pending_id IS DISTINCT FROM p.id THEN result := 'exists_with_different_pending_id'; RETURN NEXT; RETURN; END IF;
            IF p_debit IS NOT NULL AND p_debit <> e.debit_account_id THEN result := 'exists_with_different_debit_account_id'; RETURN NEXT; RETURN; END IF;
            IF p_credit IS NOT NULL AND p_credit <> e.credit_account_id THEN result := 'exists_with_different_credit_account_id'; RETURN NEXT; RETURN; END IF;
            IF p_amount IS NOT NULL AND p_amount <> e.amount_fen THEN result := 'exists_with_different_amount'; RETURN NEXT; RETURN; END IF;
            IF coalesce(p_code, '') <> '' AND p_code <> e.code THEN result := 'exists_with_different_code'; RETURN NEXT; RETURN; END IF;
            result := 'exists'; transfer_id := e.id; RETURN NEXT; RETURN;
        END IF;
        IF p_debit IS NOT NULL AND p_debit <> p.debit_account_id THEN result := 'pending_transfer_has_different_debit_account_id'; RETURN NEXT; RETURN; END IF;
        IF p_credit IS NOT NULL AND p_credit <> p.credit_account_id THEN result := 'pending_transfer_has_different_credit_account_id'; RETURN NEXT; RETURN; END IF;
        IF p_kind <> 'post' AND p_amount IS NOT NULL AND p_amount <> p.amount_fen THEN result := 'pending_transfer_has_different_amount'; RETURN NEXT; RETURN; END IF;
        IF p_kind = 'post' AND p_amount IS NOT NULL AND p_amount > p.amount_fen THEN result := 'exceeds_pending_transfer_amount'; RETURN NEXT; RETURN; END IF;
        SELECT kind INTO v_done FROM ledger_transfer WHERE pending_id = p.id;
        IF v_done = 'post' THEN result := 'pending_transfer_already_posted'; RETURN NEXT; RETURN; END IF;
        IF v_done = 'void' THEN result := 'pending_transfer_already_voided'; RETURN NEXT; RETURN; END IF;
        IF v_done = 'expire' THEN result := 'pending_transfer_expired'; RETURN NEXT; RETURN; END IF;
        IF p_kind IN ('post', 'void') AND p.timeout_at IS NOT NULL AND p.timeout_at <= v_now THEN
            result := 'pending_transfer_expired'; RETURN NEXT; RETURN;
        END IF;
        IF p_kind = 'expire' AND (p.timeout_at IS NULL OR p.timeout_at > v_now) THEN
            result := 'pending_transfer_not_expired'; RETURN NEXT; RETURN;
        END IF;
        IF p_kind = 'post' AND dr.closed THEN result := 'debit_account_already_closed'; RETURN NEXT; RETURN; END IF;
        IF p_kind = 'post' AND cr.closed THEN result := 'credit_account_already_closed'; RETURN NEXT; RETURN; END IF;
        v_amount := CASE WHEN p_kind = 'post' THEN coalesce(p_amount, p.amount_fen) ELSE p.amount_fen END;
        INSERT INTO ledger_transfer (key, debit_account_id, credit_account_id, amount_fen, ledger, code, kind,
                                     pending_id, timeout_seconds, timeout_at, linked, memo, created_at)
        VALUES (p_key, p.debit_account_id, p.credit_account_id, v_amount, p.ledger,
                CASE WHEN coalesce(p_code, '') = '' THEN p.code ELSE p_code END, p_kind, p.id, 0, NULL, false,
                left(coalesce(p_memo, ''), 200), v_now)
        RETURNING id INTO v_id;
        UPDATE ledger_account SET
            debits_pending = debits_pending - CASE WHEN id = p.debit_account_id THEN p.amount_fen ELSE 0 END,
            debits_posted = debits_posted
                + CASE WHEN id = p.debit_account_id AND p_kind = 'post' THEN v_amount ELSE 0 END,
            credits_pending = credits_pending - CASE WHEN id = p.credit_account_id THEN p.amount_fen ELSE 0 END,
            credits_posted = credits_posted
                + CASE WHEN id = p.credit_account_id AND p_kind = 'post' THEN v_amount ELSE 0 END
         WHERE id IN (p.debit_account_id, p.credit_account_id);
        result := 'ok'; transfer_id := v_id; RETURN NEXT; RETURN;
    END IF;

    IF p_pending_key IS NOT NULL AND p_pending_key <> '' THEN result := 'pending_id_must_be_empty'; RETURN NEXT; RETURN; END IF;
    IF p_kind = 'single' AND coalesce(p_timeout, 0) <> 0 THEN result := 'timeout_reserved_for_pending_transfer'; RETURN NEXT; RETURN; END IF;
    IF p_debit IS NOT NULL AND p_debit = p_credit THEN result := 'accounts_must_be_different'; RETURN NEXT; RETURN; END IF;
    IF p_amount IS NULL OR p_amount <= 0 THEN result := 'amount_must_be_positive'; RETURN NEXT; RETURN; END IF;
    IF p_amount > max_amount THEN result := 'amount_too_large'; RETURN NEXT; RETURN; END IF;
    IF coalesce(p_ledger, 0) = 0 THEN result := 'ledger_must_not_be_zero'; RETURN NEXT; RETURN; END IF;
    IF coalesce(p_code, '') = '' THEN result := 'code_must_not_be_empty'; RETURN NEXT; RETURN; END IF;

    -- Two single-row locks, lower id first (a plain index scan each: cheaper than IN (...) with
    -- a sort). least/greatest skip a NULL id, which is then "not found".
    SELECT * INTO a FROM ledger_account WHERE id = least(p_debit, p_credit) FOR NO KEY UPDATE;
    IF FOUND THEN
        IF a.id = p_debit THEN dr := a; v_found_dr := true; ELSE cr := a; v_found_cr := true; END IF;
    END IF;
    SELECT * INTO a FROM ledger_account WHERE id = greatest(p_debit, p_credit) FOR NO KEY UPDATE;
    IF FOUND THEN
        IF a.id = p_debit THEN dr := a; v_found_dr := true; ELSE cr := a; v_found_cr := true; END IF;
    END IF;
    IF NOT v_found_dr THEN result := 'debit_account_not_found'; RETURN NEXT; RETURN; END IF;
    IF NOT v_found_cr THEN result := 'credit_account_not_found'; RETURN NEXT; RETURN; END IF;
    IF dr.ledger <> cr.ledger THEN result := 'accounts_must_have_the_same_ledger'; RETURN NEXT; RETURN; END IF;
    IF p_ledger <> dr.ledger THEN result := 'transfer_must_have_the_same_ledger_as_accounts'; RETURN NEXT; RETURN; END IF;

    -- The checks that rank below "exists": decided now, reported only if the key turns out new. The
    -- key itself is checked by the INSERT (ON CONFLICT), not by a lookup before it: one index probe
    -- on the common path, and a concurrent writer of the same key is waited for, not raced.
    v_fail := CASE
        WHEN dr.closed THEN 'debit_account_already_closed'
        WHEN cr.closed THEN 'credit_account_already_closed'
        WHEN dr.debits_pending + dr.debits_posted > max_balance - p_amount THEN 'overflows_debits'
        WHEN cr.credits_pending + cr.credits_posted > max_balance - p_amount THEN 'overflows_credits'
        WHEN dr.debits_must_not_exceed_credits AND dr.debits_pending + dr.debits_posted + p_amount > dr.credits_posted
            THEN 'exceeds_credits'
        WHEN cr.credits_must_not_exceed_debits AND cr.credits_pending + cr.credits_posted + p_amount > cr.debits_posted
            THEN 'exceeds_debits'
    END;
    IF v_fail IS NULL THEN
        INSERT INTO ledger_transfer (key, debit_account_id, credit_account_id, amount_fen, ledger, code, kind,
                                     pending_id, timeout_seconds, timeout_at, linked, memo, created_at)
        VALUES (p_key, p_debit, p_credit, p_amount, p_ledger, p_code, p_kind, NULL, coalesce(p_timeout, 0),
                CASE WHEN coalesce(p_timeout, 0) > 0 THEN v_now + make_interval(secs => p_timeout) ELSE NULL END,
                false, left(coalesce(p_memo, ''), 200), v_now)
        ON CONFLICT (key) DO NOTHING
        RETURNING id INTO v_id;
        IF FOUND THEN
            -- Both legs in one statement (CHECK constraints are prepared once per statement).
            UPDATE ledger_account SET
                debits_pending = debits_pending + CASE WHEN id = p_debit AND p_kind = 'pending' THEN p_amount ELSE 0 END,
                debits_posted = debits_posted + CASE WHEN id = p_debit AND p_kind <> 'pending' THEN p_amount ELSE 0 END,
                credits_pending = credits_pending + CASE WHEN id = p_credit AND p_kind = 'pending' THEN p_amount ELSE 0 END,
                credits_posted = credits_posted + CASE WHEN id = p_credit AND p_kind <> 'pending' THEN p_amount ELSE 0 END
             WHERE id IN (p_debit, p_credit);
            result := 'ok'; transfer_id := v_id; RETURN NEXT; RETURN;
        END IF;
    END IF;

    SELECT * INTO e FROM ledger_transfer WHERE key = p_key;
    IF FOUND THEN
        IF e.kind <> p_kind THEN result := 'exists_with_different_kind'; RETURN NEXT; RETURN; END IF;
        IF e.debit_account_id <> p_debit THEN result := 'exists_with_different_debit_account_id'; RETURN NEXT; RETURN; END IF;
        IF e.credit_account_id <> p_credit THEN result := 'exists_with_different_credit_account_id'; RETURN NEXT; RETURN; END IF;
        IF e.amount_fen <> p_amount THEN result := 'exists_with_different_amount'; RETURN NEXT; RETURN; END IF;
        IF e.code <> p_code THEN result := 'exists_with_different_code'; RETURN NEXT; RETURN; END IF;
        IF e.timeout_seconds <> coalesce(p_timeout, 0) THEN result := 'exists_with_different_timeout'; RETURN NEXT; RETURN; END IF;
        result := 'exists'; transfer_id := e.id; RETURN NEXT; RETURN;
    END IF;
    IF v_fail IS NULL THEN
        -- ON CONFLICT met a key this statement cannot see: not expected (transfers are never
        -- deleted); the service retries on IntegrityError.
        RAISE unique_violation USING MESSAGE = 'ledger_transfer key conflict: ' || p_key;
    END IF;
    result := v_fail; RETURN NEXT;
END;
$fn$;
