"""Test settings: SQLite by default, PostgreSQL / Redis when the OKWALLET_TEST_* variables are set."""

import os

os.environ.setdefault("OKWALLET_VAR_DIR", os.path.join(os.getcwd(), "var", "test"))

from okwallet.settings import *  # noqa: E402,F403
from okwallet.settings import PG_PREPARE_THRESHOLD, VAR_DIR, huey_settings  # noqa: E402

_db_url = os.environ.get("OKWALLET_TEST_DATABASE_URL", "")
if _db_url:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(_db_url)}
    DATABASES["default"]["OPTIONS"] = {"prepare_threshold": PG_PREPARE_THRESHOLD}  # as in production
    DATABASES["default"]["TEST"] = {
        "NAME": "test_okwallet_"
        + os.environ.get("OKWALLET_TEST_DB_SUFFIX", "main")
        + "_"
        + os.environ.get("PYTEST_XDIST_WORKER", "gw")
    }

REDIS_URL = os.environ.get("OKWALLET_TEST_REDIS_URL", "")
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if REDIS_URL and _WORKER.startswith("gw"):
    # Each xdist worker gets its own Redis database (tests flush it) and pub/sub prefix
    # (pub/sub channels are shared by all databases): gw0 keeps the given number, gw1 the one below.
    from urllib.parse import urlsplit, urlunsplit

    _parts = urlsplit(REDIS_URL)
    _base = int((_parts.path or "/0").lstrip("/") or 0)
    _db = (_base - int(_WORKER[2:])) % 16
    REDIS_URL = urlunsplit(_parts._replace(path=f"/{_db}"))
    os.environ["OKWALLET_TEST_REDIS_URL"] = REDIS_URL
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "okw-test",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "okwallet.chat.redis_layer.LocalFirstRedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"okwtest{_WORKER}"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Jobs run inline so a test sees their effect; the worker process is tested on its own.
HUEY = huey_settings("", immediate=True)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
OKWALLET_SMS_FILE = VAR_DIR / "outbox-sms.jsonl"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
