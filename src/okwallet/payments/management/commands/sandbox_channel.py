from pathlib import Path

from django.core.management.base import BaseCommand

from okwallet.payments.channels.sandbox import sandbox_dir
from okwallet.payments.sandbox_server import serve


class Command(BaseCommand):
    help = "Run the sandbox payment channel (an Alipay / WeChat Pay look-alike) as its own HTTP server."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--time-scale",
            type=float,
            default=1.0,
            help="multiply every delay and retry interval (0.01 = 100x faster, for tests)",
        )
        parser.add_argument(
            "--dir", default="", help="state and key directory (default VAR_DIR/sandbox_channel)"
        )

    def handle(self, *args, **opts):
        directory = Path(opts["dir"]) if opts["dir"] else sandbox_dir()

        def ready(server, state):
            self.stdout.write(
                f"sandbox channel on http://{opts['host']}:{server.server_port} (keys in {directory})"
            )
            self.stdout.flush()

        serve(
            host=opts["host"],
            port=opts["port"],
            directory=directory,
            time_scale=opts["time_scale"],
            ready=ready,
        )
