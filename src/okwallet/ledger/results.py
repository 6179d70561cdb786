"""Transfer result codes, in the order they are checked (the first that applies is returned).

Modelled on TigerBeetle's ``CreateTransferResult``. The strings are stable: callers, tests and
the PostgreSQL function (sql/transfer_create.sql) use exactly these.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

OK = "ok"

PRECEDENCE: list[tuple[str, str]] = [
    ("linked_event_failed", _("Another transfer in the same linked chain failed.")),
    ("linked_event_chain_open", _("The last transfer of the batch leaves a linked chain open.")),
    ("key_must_not_be_empty", _("The idempotency key must not be empty.")),
    ("key_too_long", _("The idempotency key is longer than 64 characters.")),
    ("flags_are_mutually_exclusive", _("A transfer is one of: single, pending, post or void.")),
    ("amount_not_integer", _("The amount must be a whole number of fen.")),
    ("pending_id_must_be_empty", _("Only post and void transfers reference a pending transfer.")),
    ("pending_id_required", _("Post and void transfers must name the pending transfer.")),
    ("timeout_reserved_for_pending_transfer", _("Only pending transfers may have a timeout.")),
    ("accounts_must_be_different", _("The debit and credit accounts must be different.")),
    ("amount_must_be_positive", _("The amount must be greater than zero.")),
    ("amount_too_large", _("The amount is too large.")),
    ("ledger_must_not_be_zero", _("The ledger must be given.")),
    ("code_must_not_be_empty", _("The transfer code must be given.")),
    ("pending_transfer_not_found", _("The pending transfer does not exist.")),
    ("pending_transfer_not_pending", _("The referenced transfer is not a pending transfer.")),
    ("debit_account_not_found", _("The debit account does not exist.")),
    ("credit_account_not_found", _("The credit account does not exist.")),
    ("accounts_must_have_the_same_ledger", _("Both accounts must be on the same ledger (currency).")),
    (
        "transfer_must_have_the_same_ledger_as_accounts",
        _("The transfer's ledger differs from the accounts'."),
    ),
    ("exists_with_different_kind", _("A transfer with this key exists and is of another kind.")),
    ("exists_with_different_pending_id", _("A transfer with this key exists for another pending transfer.")),
    (
        "exists_with_different_debit_account_id",
        _("A transfer with this key exists with another debit account."),
    ),
    (
        "exists_with_different_credit_account_id",
        _("A transfer with this key exists with another credit account."),
    ),
    ("exists_with_different_amount", _("A transfer with this key exists with another amount.")),
    ("exists_with_different_code", _("A transfer with this key exists with another code.")),
    ("exists_with_different_timeout", _("A transfer with this key exists with another timeout.")),
    ("exists", _("This transfer was already made; the original is returned.")),
    (
        "pending_transfer_has_different_debit_account_id",
        _("The debit account differs from the pending transfer's."),
    ),
    (
        "pending_transfer_has_different_credit_account_id",
        _("The credit account differs from the pending transfer's."),
    ),
    ("pending_transfer_has_different_amount", _("A void must release the pending transfer's full amount.")),
    ("exceeds_pending_transfer_amount", _("The amount exceeds the pending transfer's amount.")),
    ("pending_transfer_already_posted", _("The pending transfer was already posted.")),
    ("pending_transfer_already_voided", _("The pending transfer was already voided.")),
    ("pending_transfer_expired", _("The pending transfer has expired.")),
    ("pending_transfer_not_expired", _("The pending transfer has not reached its timeout yet.")),
    ("debit_account_already_closed", _("The debit account is closed.")),
    ("credit_account_already_closed", _("The credit account is closed.")),
    ("overflows_debits", _("The debit account's balance would overflow.")),
    ("overflows_credits", _("The credit account's balance would overflow.")),
    ("exceeds_credits", _("Insufficient balance.")),
    ("exceeds_debits", _("The credit account would exceed its debits.")),
]

CODES = [code for code, _message in PRECEDENCE]
MESSAGES = dict(PRECEDENCE)


def message_for(code: str):
    return MESSAGES.get(code, _("The transfer was not made."))
