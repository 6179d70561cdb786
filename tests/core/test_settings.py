"""Production mode refuses unsafe configurations; `check --deploy` is clean when configured well."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "p" * 20 + "Q7w-x_" * 8


def run_manage(tmp_path, *args, **env):
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "DEBUG",
            "ALLOWED_HOSTS",
            "OKWALLET_ENV",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    full_env.update({"OKWALLET_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "okwallet.settings", **env})
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ALLOWED_HOSTS": "wallet.example"}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "wallet.example", "DEBUG": "1"}, "DEBUG must be off"),
        ({"SECRET_KEY": GOOD_SECRET}, "ALLOWED_HOSTS must list"),
        ({"SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS must list"),
        ({"SECRET_KEY": "short", "ALLOWED_HOSTS": "wallet.example"}, "too weak"),
    ],
)
def test_production_refuses_to_start_with_an_unsafe_configuration(tmp_path, env, message):
    result = run_manage(tmp_path, "check", OKWALLET_ENV="production", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_deploy_check_is_clean(tmp_path):
    result = run_manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        OKWALLET_ENV="production",
        SECRET_KEY=GOOD_SECRET,
        ALLOWED_HOSTS="wallet.example",
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_local_secret_key_is_generated_once_into_var(tmp_path):
    assert run_manage(tmp_path, "check").returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert run_manage(tmp_path, "check").returncode == 0
    assert (tmp_path / "secret_key").read_text() == key


def test_embedded_default_uses_sqlite_wal_with_immediate_transactions(tmp_path):
    code = (
        "import django;django.setup();from django.db import connection;c=connection.cursor();"
        "c.execute('PRAGMA journal_mode');print(c.fetchone()[0]);"
        "print(connection.settings_dict['OPTIONS']['transaction_mode'])"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        {
            "OKWALLET_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "okwallet.settings",
            "PYTHONPATH": str(ROOT / "src"),
        }
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["wal", "IMMEDIATE"], out.stderr


def test_public_url_from_the_environment_is_where_the_channel_calls_back(tmp_path):
    # README documents OKWALLET_PUBLIC_URL; a cluster behind a balancer on another port depends on it.
    code = (
        "import django;django.setup();from okwallet.payments.services import _notify_url;print(_notify_url())"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "OKWALLET_PUBLIC_URL"}
    }
    env.update(
        {
            "OKWALLET_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "okwallet.settings",
            "PYTHONPATH": str(ROOT / "src"),
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "OKWALLET_PUBLIC_URL": "https://wallet.example/"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "https://wallet.example/wallet/notify/sandbox/", out.stderr
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "http://127.0.0.1:8000/wallet/notify/sandbox/", out.stderr


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({}, "okwallet.chat.layers.InProcessChannelLayer"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "okwallet.chat.redis_layer.LocalFirstRedisChannelLayer"),
        (
            {"REDIS_URL": "redis://127.0.0.1:6379/0", "OKWALLET_CHANNEL_LAYER": "stock"},
            "channels_redis.pubsub.RedisPubSubChannelLayer",
        ),
    ],
)
def test_the_channel_layer_follows_the_environment(tmp_path, env, backend):
    result = run_manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings; print(settings.CHANNEL_LAYERS['default']['BACKEND'])",
        **env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == backend
