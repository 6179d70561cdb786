-- One transfer in one round trip. Same rules, same order as okwallet/ledger/engine.py.
-- Locking: both accounts are locked FOR UPDATE in id order before any balance or key is read.
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
    v_amount bigint;
    v_id bigint;
    v_now timestamptz := now();
BEGIN
    IF p_key IS NULL OR p_key = '' THEN RETURN QUERY SELECT 'key_must_not_be_empty'::text, NULL::bigint; RETURN; END IF;
    IF length(p_key) > 64 THEN RETURN QUERY SELECT 'key_too_long'::text, NULL::bigint; RETURN; END IF;
    IF p_kind IS NULL OR p_kind NOT IN ('single', 'pending', 'post', 'void', 'expire') THEN
        RETURN QUERY SELECT 'flags_are_mutually_exclusive'::text, NULL::bigint; RETURN;
    END IF;

    IF p_kind IN ('post', 'void', 'expire') THEN
        IF p_pending_key IS NULL OR p_pending_key = '' THEN RETURN QUERY SELECT 'pending_id_required'::text, NULL::bigint; RETURN; END IF;
        IF coalesce(p_timeout, 0) <> 0 THEN RETURN QUERY SELECT 'timeout_reserved_for_pending_transfer'::text, NULL::bigint; RETURN; END IF;
        IF p_amount IS NOT NULL AND p_amount <= 0 THEN RETURN QUERY SELECT 'amount_must_be_positive'::text, NULL::bigint; RETURN; END IF;
        IF p_amount IS NOT NULL AND p_amount > max_amount THEN RETURN QUERY SELECT 'amount_too_large'::text, NULL::bigint; RETURN; END IF;
        SELECT * INTO p FROM ledger_transfer WHERE key = p_pending_key;
        IF NOT FOUND THEN RETURN QUERY SELECT 'pending_transfer_not_found'::text, NULL::bigint; RETURN; END IF;
        IF p.kind <> 'pending' THEN RETURN QUERY SELECT 'pending_transfer_not_pending'::text, NULL::bigint; RETURN; END IF;
        FOR a IN SELECT * FROM ledger_account WHERE id IN (p.debit_account_id, p.credit_account_id) ORDER BY id FOR UPDATE LOOP
            IF a.id = p.debit_account_id THEN dr := a; ELSE cr := a; END IF;
        END LOOP;
        SELECT * INTO e FROM ledger_transfer WHERE key = p_key;
        IF FOUND THEN
            IF e.kind <> p_kind THEN RETURN QUERY SELECT 'exists_with_different_kind'::text, NULL::bigint; RETURN; END IF;
            IF e.pending_id IS DISTINCT FROM p.id THEN RETURN QUERY SELECT 'exists_with_different_pending_id'::text, NULL::bigint; RETURN; END IF;
            IF p_debit IS NOT NULL AND p_debit <> e.debit_account_id THEN RETURN QUERY SELECT 'exists_with_different_debit_account_id'::text, NULL::bigint; RETURN; END IF;
            IF p_credit IS NOT NULL AND p_credit <> e.credit_account_id THEN RETURN QUERY SELECT 'exists_with_different_credit_account_id'::text, NULL::bigint; RETURN; END IF;
            IF p_amount IS NOT NULL AND p_amount <> e.amount_fen THEN RETURN QUERY SELECT 'exists_with_different_amount'::text, NULL::bigint; RETURN; END IF;
            IF coalesce(p_code, '') <> '' AND p_code <> e.code THEN RETURN QUERY SELECT 'exists_with_different_code'::text, NULL::bigint; RETURN; END IF;
            RETURN QUERY SELECT 'exists'::text, e.id; RETURN;
        END IF;
        IF p_debit IS NOT NULL AND p_debit <> p.debit_account_id THEN RETURN QUERY SELECT 'pending_transfer_has_different_debit_account_id'::text, NULL::bigint; RETURN; END IF;
        IF p_credit IS NOT NULL AND p_credit <> p.credit_account_id THEN RETURN QUERY SELECT 'pending_transfer_has_different_credit_account_id'::text, NULL::bigint; RETURN; END IF;
        IF p_kind <> 'post' AND p_amount IS NOT NULL AND p_amount <> p.amount_fen THEN RETURN QUERY SELECT 'pending_transfer_has_different_amount'::text, NULL::bigint; RETURN; END IF;
        IF p_kind = 'post' AND p_amount IS NOT NULL AND p_amount > p.amount_fen THEN RETURN QUERY SELECT 'exceeds_pending_transfer_amount'::text, NULL::bigint; RETURN; END IF;
        SELECT kind INTO v_done FROM ledger_transfer WHERE pending_id = p.id;
        IF v_done = 'post' THEN RETURN QUERY SELECT 'pending_transfer_already_posted'::text, NULL::bigint; RETURN; END IF;
        IF v_done = 'void' THEN RETURN QUERY SELECT 'pending_transfer_already_voided'::text, NULL::bigint; RETURN; END IF;
        IF v_done = 'expire' THEN RETURN QUERY SELECT 'pending_transfer_expired'::text, NULL::bigint; RETURN; END IF;
        IF p_kind IN ('post', 'void') AND p.timeout_at IS NOT NULL AND p.timeout_at <= v_now THEN
            RETURN QUERY SELECT 'pending_transfer_expired'::text, NULL::bigint; RETURN;
        END IF;
        IF p_kind = 'expire' AND (p.timeout_at IS NULL OR p.timeout_at > v_now) THEN
            RETURN QUERY SELECT 'pending_transfer_not_expired'::text, NULL::bigint; RETURN;
        END IF;
        IF p_kind = 'post' AND dr.closed THEN RETURN QUERY SELECT 'debit_account_already_closed'::text, NULL::bigint; RETURN; END IF;
        IF p_kind = 'post' AND cr.closed THEN RETURN QUERY SELECT 'credit_account_already_closed'::text, NULL::bigint; RETURN; END IF;
        v_amount := CASE WHEN p_kind = 'post' THEN coalesce(p_amount, p.amount_fen) ELSE p.amount_fen END;
        INSERT INTO ledger_transfer (key, debit_account_id, credit_account_id, amount_fen, ledger, code, kind,
                                     pending_id, timeout_seconds, timeout_at, linked, memo, created_at)
        VALUES (p_key, p.debit_account_id, p.credit_account_id, v_amount, p.ledger,
                CASE WHEN coalesce(p_code, '') = '' THEN p.code ELSE p_code END, p_kind, p.id, 0, NULL, false,
                left(coalesce(p_memo, ''), 200), v_now)
        RETURNING id INTO v_id;
        UPDATE ledger_account SET debits_pending = debits_pending - p.amount_fen,
               debits_posted = debits_posted + CASE WHEN p_kind = 'post' THEN v_amount ELSE 0 END
         WHERE id = p.debit_account_id;
        UPDATE ledger_account SET credits_pending = credits_pending - p.amount_fen,
               credits_posted = credits_posted + CASE WHEN p_kind = 'post' THEN v_amount ELSE 0 END
         WHERE id = p.credit_account_id;
        RETURN QUERY SELECT 'ok'::text, v_id; RETURN;
    END IF;

    IF p_pending_key IS NOT NULL AND p_pending_key <> '' THEN RETURN QUERY SELECT 'pending_id_must_be_empty'::text, NULL::bigint; RETURN; END IF;
    IF p_kind = 'single' AND coalesce(p_timeout, 0) <> 0 THEN RETURN QUERY SELECT 'timeout_reserved_for_pending_transfer'::text, NULL::bigint; RETURN; END IF;
    IF p_debit IS NOT NULL AND p_debit = p_credit THEN RETURN QUERY SELECT 'accounts_must_be_different'::text, NULL::bigint; RETURN; END IF;
    IF p_amount IS NULL OR p_amount <= 0 THEN RETURN QUERY SELECT 'amount_must_be_positive'::text, NULL::bigint; RETURN; END IF;
    IF p_amount > max_amount THEN RETURN QUERY SELECT 'amount_too_large'::text, NULL::bigint; RETURN; END IF;
    IF coalesce(p_ledger, 0) = 0 THEN RETURN QUERY SELECT 'ledger_must_not_be_zero'::text, NULL::bigint; RETURN; END IF;
    IF coalesce(p_code, '') = '' THEN RETURN QUERY SELECT 'code_must_not_be_empty'::text, NULL::bigint; RETURN; END IF;

    FOR a IN SELECT * FROM ledger_account WHERE id IN (p_debit, p_credit) ORDER BY id FOR UPDATE LOOP
        IF a.id = p_debit THEN dr := a; v_found_dr := true; ELSE cr := a; v_found_cr := true; END IF;
    END LOOP;
    IF NOT v_found_dr THEN RETURN QUERY SELECT 'debit_account_not_found'::text, NULL::bigint; RETURN; END IF;
    IF NOT v_found_cr THEN RETURN QUERY SELECT 'credit_account_not_found'::text, NULL::bigint; RETURN; END IF;
    IF dr.ledger <> cr.ledger THEN RETURN QUERY SELECT 'accounts_must_have_the_same_ledger'::text, NULL::bigint; RETURN; END IF;
    IF p_ledger <> dr.ledger THEN RETURN QUERY SELECT 'transfer_must_have_the_same_ledger_as_accounts'::text, NULL::bigint; RETURN; END IF;

    SELECT * INTO e FROM ledger_transfer WHERE key = p_key;
    IF FOUND THEN
        IF e.kind <> p_kind THEN RETURN QUERY SELECT 'exists_with_different_kind'::text, NULL::bigint; RETURN; END IF;
        IF e.debit_account_id <> p_debit THEN RETURN QUERY SELECT 'exists_with_different_debit_account_id'::text, NULL::bigint; RETURN; END IF;
        IF e.credit_account_id <> p_credit THEN RETURN QUERY SELECT 'exists_with_different_credit_account_id'::text, NULL::bigint; RETURN; END IF;
        IF e.amount_fen <> p_amount THEN RETURN QUERY SELECT 'exists_with_different_amount'::text, NULL::bigint; RETURN; END IF;
        IF e.code <> p_code THEN RETURN QUERY SELECT 'exists_with_different_code'::text, NULL::bigint; RETURN; END IF;
        IF e.timeout_seconds <> coalesce(p_timeout, 0) THEN RETURN QUERY SELECT 'exists_with_different_timeout'::text, NULL::bigint; RETURN; END IF;
        RETURN QUERY SELECT 'exists'::text, e.id; RETURN;
    END IF;
    IF dr.closed THEN RETURN QUERY SELECT 'debit_account_already_closed'::text, NULL::bigint; RETURN; END IF;
    IF cr.closed THEN RETURN QUERY SELECT 'credit_account_already_closed'::text, NULL::bigint; RETURN; END IF;
    IF dr.debits_pending + dr.debits_posted > max_balance - p_amount THEN RETURN QUERY SELECT 'overflows_debits'::text, NULL::bigint; RETURN; END IF;
    IF cr.credits_pending + cr.credits_posted > max_balance - p_amount THEN RETURN QUERY SELECT 'overflows_credits'::text, NULL::bigint; RETURN; END IF;
    IF dr.debits_must_not_exceed_credits AND dr.debits_pending + dr.debits_posted + p_amount > dr.credits_posted THEN
        RETURN QUERY SELECT 'exceeds_credits'::text, NULL::bigint; RETURN;
    END IF;
    IF cr.credits_must_not_exceed_debits AND cr.credits_pending + cr.credits_posted + p_amount > cr.debits_posted THEN
        RETURN QUERY SELECT 'exceeds_debits'::text, NULL::bigint; RETURN;
    END IF;

    INSERT INTO ledger_transfer (key, debit_account_id, credit_account_id, amount_fen, ledger, code, kind,
                                 pending_id, timeout_seconds, timeout_at, linked, memo, created_at)
    VALUES (p_key, p_debit, p_credit, p_amount, p_ledger, p_code, p_kind, NULL, coalesce(p_timeout, 0),
            CASE WHEN coalesce(p_timeout, 0) > 0 THEN v_now + make_interval(secs => p_timeout) ELSE NULL END,
            false, left(coalesce(p_memo, ''), 200), v_now)
    RETURNING id INTO v_id;
    IF p_kind = 'pending' THEN
        UPDATE ledger_account SET debits_pending = debits_pending + p_amount WHERE id = p_debit;
        UPDATE ledger_account SET credits_pending = credits_pending + p_amount WHERE id = p_credit;
    ELSE
        UPDATE ledger_account SET debits_posted = debits_posted + p_amount WHERE id = p_debit;
        UPDATE ledger_account SET credits_posted = credits_posted + p_amount WHERE id = p_credit;
    END IF;
    RETURN QUERY SELECT 'ok'::text, v_id;
END;
$fn$;
