"""``manage.py mail_poll --host ... --user ... [--once]``: read a mailbox over IMAP."""

import os
import signal
import threading

from django.core.management.base import BaseCommand

from okwallet.mail import conf
from okwallet.mail.poller import MailboxConfig, mail_poll_forever, mail_poll_once


class Command(BaseCommand):
    help = "Read a mailbox over IMAP (IDLE where offered, polling otherwise) and file the mail as tickets."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=conf.setting("OKWALLET_MAIL_IMAP_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=conf.setting("OKWALLET_MAIL_IMAP_PORT", 143))
        parser.add_argument("--user", default=conf.setting("OKWALLET_MAIL_IMAP_USER", ""))
        parser.add_argument(
            "--password-env",
            default="OKWALLET_MAIL_IMAP_PASSWORD",
            help="name of the environment variable holding the password (not on the command line)",
        )
        parser.add_argument("--folder", default=conf.setting("OKWALLET_MAIL_IMAP_FOLDER", "INBOX"))
        parser.add_argument("--processed-folder", default="Processed")
        parser.add_argument("--ssl", action="store_true")
        parser.add_argument("--starttls", action="store_true")
        parser.add_argument("--no-move", action="store_true", help="leave processed mail in the folder")
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument("--idle-timeout", type=float, default=300)
        parser.add_argument("--poll-interval", type=float, default=60)

    def handle(self, *args, **o):
        config = MailboxConfig(
            host=o["host"],
            port=o["port"],
            username=o["user"],
            password=os.environ.get(o["password_env"], ""),
            folder=o["folder"],
            processed_folder=o["processed_folder"],
            use_ssl=o["ssl"],
            starttls=o["starttls"],
            move=not o["no_move"],
            batch_size=o["batch_size"],
        )
        if o["once"]:
            with config.reader() as reader:
                result = mail_poll_once(reader=reader, config=config)
            self.stdout.write(
                f"{config.name}: stored {result.stored}, tickets {result.tickets_created}, "
                f"threaded {result.replies_threaded}, flagged {result.flagged}, ignored {result.ignored}, "
                f"failed {result.failed}, duplicates {result.duplicates}"
            )
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"polling {config.name}")
        mail_poll_forever(
            config=config,
            idle_timeout=o["idle_timeout"],
            poll_interval=o["poll_interval"],
            stop=stop,
            stdout=self.stdout,
        )
