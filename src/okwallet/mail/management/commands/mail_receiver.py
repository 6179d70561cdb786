"""``manage.py mail_receiver --port 2525 [--lmtp]``: accept mail by SMTP or LMTP."""

import signal
import threading

from django.core.management.base import BaseCommand

from okwallet.mail.receiver import DEFAULT_DATA_SIZE_LIMIT, ReceiverController


class Command(BaseCommand):
    help = "Receive email by SMTP (or LMTP) and file it as tickets."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2525)
        parser.add_argument(
            "--lmtp", action="store_true", help="speak LMTP (for delivery from Postfix/Dovecot)"
        )
        parser.add_argument("--max-bytes", type=int, default=DEFAULT_DATA_SIZE_LIMIT)

    def handle(self, *args, host, port, lmtp, max_bytes, **options):
        controller = ReceiverController(host=host, port=port, lmtp=lmtp, data_size_limit=max_bytes)
        controller.start()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"{'LMTP' if lmtp else 'SMTP'} receiver listening on {host}:{port}")
        self.stdout.flush()
        try:
            stop.wait()
        finally:
            controller.stop()
