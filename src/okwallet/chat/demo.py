"""Demo data: the starter canned replies (idempotent)."""


def seed(*, stdout) -> None:
    from okwallet.chat.services import canned_replies_ensure

    canned_replies_ensure()
    stdout.write("chat: canned replies ready\n")
