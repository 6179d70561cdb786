"""Email ingest benchmark: our IMAP poller vs django-helpdesk's get_email vs the bare ceiling.

    .venv/bin/python bench/email_ingest.py            # 5,000 messages (needs dovecot-imapd, root)
    .venv/bin/python bench/email_ingest.py --small    # 500 messages, quick

Loads the same varied messages (Chinese charsets, HTML, attachments, replies that follow their
parents, auto-replies, list mail, bounces) into three folders of a private Dovecot by IMAP
APPEND, then, in the same run:
  ours      manage.py mail_poll's code path: batched FETCH, raw stored, parsed, classified,
            threaded, tickets created through okwallet.helpdesk, acknowledgements queued
  helpdesk  django-helpdesk's ``get_email`` (installed from PyPI into its own venv under var/)
  ceiling   imapclient FETCH of 200 messages at a time + email.message_from_bytes(policy=default)
and prints messages/s for each and the ratios. Ends with TARGET lines.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from email.header import Header
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

HELPDESK_VERSION = "django-helpdesk==2.6.1"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------
# Messages


_SUBJECTS = [
    "充值未到账",
    "提现失败",
    "转账被退回",
    "忘记支付密码",
    "账户被冻结",
    "Deposit missing",
    "注销账户",
    "投诉：客服态度",
]
_BODIES = [
    "我昨天通过银行卡充值 {n} 元，到现在还没有到账，请帮忙查一下。",
    "提现到尾号 {n} 的银行卡失败了，提示“银行处理中”，请问怎么办？",
    "您好，我给朋友转账 {n} 元，对方说没收到。",
    "I topped up {n} yuan this morning and the balance did not change. Please check.",
]


def _plain(sender, subject, body, mid, charset="utf-8", cte="8bit", extra=()):
    data = body.encode(charset, "replace")
    if cte == "base64":
        import base64

        payload = base64.encodebytes(data)
    elif cte == "quoted-printable":
        import quopri

        payload = quopri.encodestring(data)
    else:
        payload = data
    head = [
        f"From: {sender}",
        "To: support@okwallet.example",
        f"Subject: {Header(subject, charset).encode()}",
        f"Message-ID: <{mid}>",
        "Date: Tue, 01 Dec 2026 10:00:00 +0800",
        "MIME-Version: 1.0",
        f"Content-Type: text/plain; charset={charset}",
        f"Content-Transfer-Encoding: {cte}",
        *extra,
    ]
    return (
        "\r\n".join(head).encode() + b"\r\n\r\n" + payload.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    )


def _html(sender, subject, body, mid, extra=()):
    boundary = uuid.uuid4().hex
    html = f"<html><body><p>{body}</p><script>alert(1)</script><p>发自我的iPhone</p></body></html>"
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(600)
    import base64

    parts = [
        "From: " + sender,
        "To: support@okwallet.example",
        f"Subject: {Header(subject, 'utf-8').encode()}",
        f"Message-ID: <{mid}>",
        "Date: Tue, 01 Dec 2026 10:00:00 +0800",
        "MIME-Version: 1.0",
        *extra,
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        f"--{boundary}",
        'Content-Type: multipart/alternative; boundary="alt' + boundary + '"',
        "",
        f"--alt{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        base64.encodebytes(body.encode()).decode().strip(),
        f"--alt{boundary}",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        base64.encodebytes(html.encode()).decode().strip(),
        f"--alt{boundary}--",
        f"--{boundary}",
        'Content-Type: image/png; name="screenshot.png"',
        'Content-Disposition: attachment; filename="screenshot.png"',
        "Content-Transfer-Encoding: base64",
        "",
        base64.encodebytes(png).decode().strip(),
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(parts).encode()


def make_messages(count: int, seed: int = 7) -> tuple[list[bytes], dict]:
    """Varied messages in delivery order; replies always come after their parents."""
    rng = random.Random(seed)
    out: list[bytes] = []
    threads: list[tuple[str, str, str, list[str]]] = []  # (sender, subject, last mid, refs)
    facts = {"new": 0, "reply": 0, "auto": 0, "list": 0, "bounce": 0}
    senders = [f"客户{i} <user{i}@example.com>" for i in range(max(50, count // 4))]
    for n in range(count):
        mid = f"bench.{n}.{uuid.uuid4().hex[:12]}@example.com"
        roll = rng.random()
        if threads and roll < 0.30:
            sender, subject, parent, refs = rng.choice(threads)
            body = (
                f"补充一下：订单号 {n}。\r\n\r\n在 2026年11月30日 10:00，OK钱包客服 写道：\r\n> 请提供截图。"
            )
            raw = _plain(
                sender,
                "回复：" + subject,
                body,
                mid,
                extra=[
                    f"In-Reply-To: <{parent}>",
                    "References: " + " ".join(f"<{r}>" for r in [*refs, parent]),
                ],
            )
            threads.append((sender, subject, mid, [*refs, parent][-10:]))
            facts["reply"] += 1
        elif roll < 0.35:
            raw = _plain(
                f"auto{n}@corp.example",
                "自动回复: 我正在休假",
                "我 12 月 5 日前不在办公室。",
                mid,
                extra=["Auto-Submitted: auto-replied", "X-Autoreply: yes"],
            )
            facts["auto"] += 1
        elif roll < 0.38:
            raw = _plain(
                f"list{n}@lists.example",
                "[fintech] weekly digest",
                "digest body",
                mid,
                extra=["List-Id: <fintech.lists.example>", "Precedence: list"],
            )
            facts["list"] += 1
        elif roll < 0.40:
            raw = _plain(
                "MAILER-DAEMON@mx.example",
                "Undelivered Mail Returned to Sender",
                f"<gone{n}@example.com>: host said: 550 user unknown",
                mid,
                extra=["Return-Path: <>", f"X-Failed-Recipients: gone{n}@example.com"],
            )
            facts["bounce"] += 1
        else:
            sender = rng.choice(senders)
            subject = rng.choice(_SUBJECTS)
            body = rng.choice(_BODIES).format(n=rng.randint(10, 9999))
            kind = rng.random()
            if kind < 0.35:
                raw = _plain(sender, subject, body, mid)
            elif kind < 0.5:
                raw = _plain(sender, subject, body, mid, charset="gbk", cte="quoted-printable")
            elif kind < 0.6:
                raw = _plain(sender, subject, body, mid, charset="gb18030", cte="base64")
            elif kind < 0.65:
                raw = _plain(
                    sender,
                    "提現失敗",
                    f"您好，我的提現失敗了，金額 {n} 元。",
                    mid,
                    charset="big5",
                    cte="base64",
                )
            else:
                raw = _html(sender, subject, body, mid)
            threads.append((sender, subject, mid, []))
            facts["new"] += 1
        out.append(raw)
    return out, facts


# --------------------------------------------------------------------------
# Runs


def load_folders(server, folders: list[str], messages: list[bytes]) -> float:
    start = time.perf_counter()
    with server.client() as client:
        for folder in folders:
            if client.folder_exists(folder):
                client.delete_folder(folder)
            client.create_folder(folder)
            for i in range(0, len(messages), 200):
                client.multiappend(folder, messages[i : i + 200])
            log(f"appended {len(messages)} messages to {folder}")
    return time.perf_counter() - start


PROFILE_TO = ""  # --profile FILE: cProfile of our path (CPU time)
CPU: dict[str, float] = {}  # seconds of this process's CPU per path (the machine may be shared)


def run_ceiling(server, folder: str) -> tuple[float, int]:
    import email
    import email.policy

    from imapclient import IMAPClient

    start = time.perf_counter()
    cpu = time.process_time()
    n = 0
    with IMAPClient(server.host, port=server.port, ssl=False, timeout=60) as client:
        client.login(server.username, server.password)
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        for i in range(0, len(uids), 200):
            for _uid, data in client.fetch(uids[i : i + 200], ["BODY.PEEK[]"]).items():
                email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
                n += 1
    CPU["ceiling"] = time.process_time() - cpu
    return time.perf_counter() - start, n


def setup_django(var_dir: Path, database_url: str) -> None:
    os.environ["OKWALLET_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "okwallet.settings")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
    # The whole mailbox arrives within minutes here, where real mail from one customer is spread
    # over days: the per-sender limit (30/hour) would hold the busiest simulated senders.
    os.environ["OKWALLET_MAIL_SENDER_LIMIT"] = "100000"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def run_ours(server, folder: str, expected: int) -> tuple[float, dict]:
    from django.db.models import Count

    from okwallet.mail.models import RawMessage
    from okwallet.mail.poller import MailboxConfig, mail_poll_once

    config = MailboxConfig(
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        folder=folder,
        processed_folder=f"{folder}-done",
    )
    from okwallet.helpdesk.search import warm

    warm()  # as mail_poll_forever does at start: the tokenizer's one-off load is not throughput
    profiler = None
    if PROFILE_TO:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU time: meaningful on a shared machine
        profiler.enable()
    start = time.perf_counter()
    cpu = time.process_time()
    done = 0
    with config.reader() as reader:
        while True:
            result = mail_poll_once(reader=reader, config=config, limit=1000)
            done += result.stored + result.duplicates
            log(f"ours: {done}/{expected} stored ({done / (time.perf_counter() - start):.0f} msg/s)")
            if result.stored + result.duplicates == 0 or done >= expected:
                break
    elapsed = time.perf_counter() - start
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(PROFILE_TO)
        log(f"profile of our path written to {PROFILE_TO}")
    CPU[folder] = time.process_time() - cpu
    stats = dict(RawMessage.objects.values_list("status").annotate(n=Count("id")))
    return elapsed, stats


def check_threading(messages: list[bytes]) -> tuple[int, int]:
    """(replies, replies filed on their parent's ticket)."""
    import re

    from okwallet.mail.models import RawMessage

    by_mid = dict(RawMessage.objects.exclude(ticket_number="").values_list("message_id", "ticket_number"))
    replies = ok = 0
    for raw in messages:
        head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
        parent = re.search(r"^In-Reply-To: <([^>]+)>", head, re.M)
        if not parent:
            continue
        mid = re.search(r"^Message-ID: <([^>]+)>", head, re.M).group(1)
        replies += 1
        if by_mid.get(mid) and by_mid.get(mid) == by_mid.get(parent.group(1)):
            ok += 1
    return replies, ok


HELPDESK_SETTINGS = """
SECRET_KEY = "bench"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
SITE_ID = 1
ROOT_URLCONF = "benchproj.urls"
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
    "django.contrib.sites", "django.contrib.humanize", "rest_framework",
    "helpdesk",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.contrib.auth.context_processors.auth",
                                                 "django.template.context_processors.request",
                                                 "django.contrib.messages.context_processors.messages"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "{db}"}}
STATIC_URL = "/static/"
MEDIA_ROOT = "{media}"
HELPDESK_TEAMS_MODE_ENABLED = False
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {"version": 1, "disable_existing_loggers": True}
"""

HELPDESK_QUEUE = """
from helpdesk.models import Queue
Queue.objects.all().delete()
Queue.objects.create(title="Support", slug="support", email_address="support@okwallet.example",
    allow_email_submission=True, email_box_type="imap", email_box_host="{host}", email_box_port={port},
    email_box_ssl=False, email_box_user="{user}", email_box_pass="{password}", email_box_imap_folder="{folder}",
    email_box_interval=0, logging_type="none")
"""


def prepare_helpdesk(base: Path) -> Path | None:
    """A venv with django-helpdesk and a minimal project; None when PyPI cannot be reached."""
    venv = base / "dh-venv"
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        log(f"installing {HELPDESK_VERSION} into {venv} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", HELPDESK_VERSION], capture_output=True, text=True
        )
        if pip.returncode != 0:
            log("could not install django-helpdesk: " + pip.stderr[-500:])
            return None
        (venv / ".installed").write_text(HELPDESK_VERSION)
    return python


def run_helpdesk(base: Path, python: Path, server, folder: str) -> tuple[float, int] | None:
    proj = base / "dh-project"
    if proj.exists():
        shutil.rmtree(proj)
    (proj / "benchproj").mkdir(parents=True)
    (proj / "benchproj" / "__init__.py").write_text("")
    (proj / "benchproj" / "settings.py").write_text(
        HELPDESK_SETTINGS.replace("{db}", str(proj / "db.sqlite3")).replace("{media}", str(proj / "media"))
    )
    (proj / "benchproj" / "urls.py").write_text(
        "from django.urls import include, path\nurlpatterns = [path('', include('helpdesk.urls'))]\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchproj.settings", "PYTHONPATH": str(proj)}
    for key in ("DATABASE_URL", "OKWALLET_VAR_DIR"):
        env.pop(key, None)

    def manage(*args, **kw):
        return subprocess.run([str(python), "-m", "django", *args], cwd=proj, env=env, **kw)

    out = manage("migrate", "-v", "0", capture_output=True, text=True)
    if out.returncode != 0:
        log("django-helpdesk migrate failed: " + out.stderr[-1500:])
        return None
    script = HELPDESK_QUEUE.format(
        host=server.host, port=server.port, user=server.username, password=server.password, folder=folder
    )
    manage("shell", "-c", textwrap.dedent(script), check=True)
    start = time.perf_counter()
    out = manage("get_email", capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        log("get_email failed: " + out.stderr[-1500:])
        return None
    count = manage(
        "shell",
        "-c",
        "from helpdesk.models import FollowUp; print(FollowUp.objects.count())",
        capture_output=True,
        text=True,
    )
    tickets = manage(
        "shell",
        "-c",
        "from helpdesk.models import Ticket; print(Ticket.objects.count())",
        capture_output=True,
        text=True,
    )

    def last_int(text: str) -> int:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        return int(lines[-1]) if lines and lines[-1].strip().isdigit() else 0

    log(f"django-helpdesk: {last_int(tickets.stdout)} tickets, {last_int(count.stdout)} follow-ups")
    return elapsed, last_int(count.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="500 messages")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--skip-helpdesk", action="store_true")
    parser.add_argument("--database-url", default="", help="PostgreSQL for our side (default: SQLite)")
    parser.add_argument(
        "--mail-layer-too",
        action="store_true",
        help="also time our poller with the helpdesk switched off (tickets as mail stand-ins)",
    )
    parser.add_argument("--profile", default="", help="write a cProfile (CPU time) of our path to this file")
    args = parser.parse_args()
    count = args.count or (500 if args.small else 5000)
    global PROFILE_TO
    PROFILE_TO = args.profile

    from tests.mail.dovecot import DovecotServer

    base = Path(os.environ.get("OKWALLET_BENCH_DIR", REPO / "var" / "bench-email"))
    base.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="okw-email-bench-"))
    run_dir.chmod(0o755)  # Dovecot's unprivileged processes must reach the mail folders
    var_dir = run_dir / "var"
    var_dir.mkdir()
    server = DovecotServer(root=run_dir / "dovecot").start()
    log(f"dovecot on port {server.port}")
    try:
        messages, facts = make_messages(count)
        log(f"generated {count} messages: {facts}")
        append_s = load_folders(server, ["ours", "helpdesk", "ceiling"], messages)
        log(f"APPEND of 3 x {count} took {append_s:.1f}s")

        ceiling_s, ceiling_n = run_ceiling(server, "ceiling")
        ceiling_rate = ceiling_n / ceiling_s
        log(f"ceiling: {ceiling_n} in {ceiling_s:.2f}s = {ceiling_rate:.0f} msg/s")

        setup_django(var_dir, args.database_url)
        ours_s, stats = run_ours(server, "ours", count)
        ours_rate = count / ours_s
        replies, threaded = check_threading(messages)
        log(f"ours: {count} in {ours_s:.2f}s = {ours_rate:.0f} msg/s; statuses {stats}")
        log(f"threading: {threaded}/{replies} replies on their parent's ticket")
        stored = sum(stats.values())
        layer_rate = None
        if args.mail_layer_too:
            from django.conf import settings as dj_settings

            dj_settings.OKWALLET_MAIL_USE_HELPDESK = False
            from okwallet.mail.models import MailboxState, RawMessage

            RawMessage.objects.all().delete()
            MailboxState.objects.all().delete()
            with server.client() as client:
                client.rename_folder("ours-done", "layer")
            layer_s, _stats = run_ours(server, "layer", count)
            layer_rate = count / layer_s
            dj_settings.OKWALLET_MAIL_USE_HELPDESK = True
            log(f"mail layer alone: {count} in {layer_s:.2f}s = {layer_rate:.0f} msg/s")

        helpdesk_rate = None
        if not args.skip_helpdesk:
            python = prepare_helpdesk(base)
            if python is not None:
                hd = run_helpdesk(base, python, server, "helpdesk")
                if hd is not None:
                    hd_s, _n = hd
                    helpdesk_rate = count / hd_s
                    log(f"django-helpdesk get_email: {count} in {hd_s:.1f}s = {helpdesk_rate:.1f} msg/s")
    finally:
        server.stop()
        shutil.rmtree(run_dir, ignore_errors=True)

    print()
    print(f"messages            {count}")
    print(f"ceiling             {ceiling_rate:8.0f} msg/s  (imapclient FETCH x200 + message_from_bytes)")
    print(f"ours                {ours_rate:8.0f} msg/s  (stored {stored}, threaded {threaded}/{replies})")
    if helpdesk_rate:
        print(f"django-helpdesk     {helpdesk_rate:8.1f} msg/s")
        print(f"ours / helpdesk     {ours_rate / helpdesk_rate:8.1f}x")
    print(f"ours / ceiling      {ours_rate / ceiling_rate:8.2f}x")
    if CPU.get("ceiling") and CPU.get("ours"):
        # CPU of this process only: on SQLite that includes the database; not on PostgreSQL.
        cpu_ours, cpu_ceiling = count / CPU["ours"], count / CPU["ceiling"]
        print(
            f"per CPU second      ours {cpu_ours:.0f} msg/s, ceiling {cpu_ceiling:.0f} msg/s, "
            f"ratio {cpu_ours / cpu_ceiling:.2f}x"
        )
    if layer_rate:
        print(
            f"mail layer alone    {layer_rate:8.0f} msg/s  ({layer_rate / ceiling_rate:.2f}x ceiling; tickets as stand-ins)"
        )
    all_ok = stored == count and threaded == replies and stats.get("received", 0) == 0
    print(
        f"TARGET email_stored_and_threaded {stored}/{count},{threaded}/{replies} all {'PASS' if all_ok else 'FAIL'}"
    )
    if helpdesk_rate:
        ratio = ours_rate / helpdesk_rate
        print(f"TARGET email_vs_django_helpdesk {ratio:.1f}x 10x {'PASS' if ratio >= 10 else 'FAIL'}")
    else:
        print("TARGET email_vs_django_helpdesk n/a 10x FAIL (django-helpdesk did not run)")
    ratio = ours_rate / ceiling_rate
    print(f"TARGET email_vs_ceiling {ratio:.2f}x 0.4x {'PASS' if ratio >= 0.4 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
