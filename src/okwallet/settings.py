"""OK Wallet settings, chosen by the environment.

With nothing set you get the embedded default: one SQLite file under var/,
an in-process channel layer, local-memory cache and Huey on SQLite.
DATABASE_URL switches to PostgreSQL, REDIS_URL to Redis (cache, channel
layer, jobs, shared counters). OKWALLET_ENV=production refuses to start with
an unsafe configuration.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("OKWALLET_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

ENV = os.environ.get("OKWALLET_ENV", "development")
PRODUCTION = ENV == "production"


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. In production (OKWALLET_ENV=production) the secret key must come "
            "from the environment; generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production (unset DEBUG or set DEBUG=0).")
    if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS must list the site's host names in production (comma-separated, no '*')."
        )
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured(
            "SECRET_KEY is too weak for production: use at least 50 random characters."
        )

INSTALLED_APPS = [
    "daphne",
    # Our apps first: their templates and translations take precedence over contrib ones.
    *[
        f"okwallet.{app}"
        for app in [
            "core",
            "accounts",
            "hours",
            "contact",
            "ledger",
            "payments",
            "helpdesk",
            "kb",
            "mail",
            "chat",
            "voice",
            "antifraud",
            "api",
            "portal",
            "console",
            "ops",
        ]
    ],
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "ninja",
    "huey.contrib.djhuey",
    "django_otp",
    "django_otp.plugins.otp_totp",
]

# Domain apps (bottom-up). Each may offer `api.router`, `urls.urlpatterns` (with `url_prefix`)
# and `routing.websocket_urlpatterns`; okwallet/urls.py, api/api.py and routing.py pick them up.
OKWALLET_APPS = [
    "accounts",
    "hours",
    "contact",
    "ledger",
    "payments",
    "helpdesk",
    "kb",
    "mail",
    "chat",
    "voice",
    "antifraud",
    "portal",
    "console",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "okwallet.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "okwallet.core.middleware.RequestIdMiddleware",
    "okwallet.core.metrics.ObservabilityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "okwallet.accounts.middleware.SessionActivityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "okwallet.core.middleware.OkErrorPageMiddleware",
]

ROOT_URLCONF = "okwallet.urls"
CSRF_FAILURE_VIEW = "okwallet.core.views.csrf_failure"
ASGI_APPLICATION = "okwallet.asgi.application"
WSGI_APPLICATION = "okwallet.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "okwallet.contact.context_processors.contact",
                "okwallet.core.navigation.navigation",
                "okwallet.core.middleware.csp_nonce",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
SQLITE_PATH = VAR_DIR / "okwallet.sqlite3"


def sqlite_database(path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # Writers queue on the database lock instead of failing with "database is locked".
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        },
        "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
        # Keep connections: closing the last one checkpoints and deletes the WAL (an fsync), which
        # Channels' database_sync_to_async would otherwise do after every socket frame (docs/chat.md).
        "CONN_MAX_AGE": 600,
    }


# Never reached by Django's client-side cursors; only explicit prepare=True statements prepare.
PG_PREPARE_THRESHOLD = 1_000_000

if DATABASE_URL:
    # Under ASGI every request may run in its own thread, so persistent per-thread connections
    # (CONN_MAX_AGE > 0) pile up until PostgreSQL refuses clients; a psycopg pool per process
    # bounds them instead (Django 5.1+).
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": int(os.environ.get("OKWALLET_DB_POOL_SIZE", "10")),
            "timeout": 10,
        }
        # Lets the ledger's hot statements (okwallet.ledger.engine.pg_cursor, prepare=True) be
        # prepared once per connection. Django's own cursors bind client-side and never prepare,
        # so nothing else changes. A transaction-mode pooler (PgBouncer < 1.21) would need None.
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = PG_PREPARE_THRESHOLD
else:
    DATABASES = {"default": sqlite_database(SQLITE_PATH)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Redis: cache, channel layer, jobs ---------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "okw",
        }
    }
    # channels-redis' pub/sub layer with a local fast path (decision 0004). "stock" runs
    # channels-redis' own layer instead (every process on the same setting: the frames differ).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": (
                "channels_redis.pubsub.RedisPubSubChannelLayer"
                if os.environ.get("OKWALLET_CHANNEL_LAYER") == "stock"
                else "okwallet.chat.redis_layer.LocalFirstRedisChannelLayer"
            ),
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "okw"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "okwallet"}}
    # Not Channels' InMemoryChannelLayer: it scans every channel per message (docs/chat.md).
    CHANNEL_LAYERS = {"default": {"BACKEND": "okwallet.chat.layers.InProcessChannelLayer"}}


def huey_settings(redis_url: str, immediate: bool = False) -> dict:
    if redis_url:
        return {
            "huey_class": "huey.RedisHuey",
            "name": "okwallet",
            "url": redis_url,
            "immediate": immediate,
            "consumer": {"workers": 2, "worker_type": "thread"},
        }
    return {
        "huey_class": "huey.SqliteHuey",
        "name": "okwallet",
        "filename": str(VAR_DIR / "huey.sqlite3"),
        "immediate": immediate,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }


HUEY = huey_settings(REDIS_URL)

# --- Auth & passwords --------------------------------------------------------
PASSWORD_HASHERS = [
    "okwallet.accounts.hashers.BoundedArgon2PasswordHasher",  # Argon2id, bounded per process
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "okwallet.accounts.validators.ChineseCommonPasswordValidator"},
    {"NAME": "okwallet.accounts.validators.PersonalInfoPasswordValidator"},
    {"NAME": "okwallet.accounts.validators.PasswordHistoryValidator"},
]
AUTHENTICATION_BACKENDS = ["okwallet.accounts.backends.IdentifierBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "portal:home"

# --- i18n / time -------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
LANGUAGE_COOKIE_NAME = "okw_lang"
LANGUAGE_COOKIE_SECURE = PRODUCTION
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# --- Static files -------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Request limits -----------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("OKWALLET_MAX_BODY_BYTES", 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# --- Security headers (Django's deployment checklist) ---------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_AGE = 60 * 60 * 12
CSRF_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the cookie-less meta tag; kept default for forms
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = PRODUCTION and env_bool("OKWALLET_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_HSTS_SECONDS = 31536000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# --- Mail / notifications -------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "outbox-mail")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "OK钱包客服 <support@okwallet.example>")
OKWALLET_NOTIFY_BACKENDS = {
    "sms": os.environ.get("OKWALLET_SMS_BACKEND", "okwallet.core.notify_backends.FileSmsBackend"),
    "email": os.environ.get(
        "OKWALLET_EMAIL_NOTIFY_BACKEND", "okwallet.core.notify_backends.DjangoEmailBackend"
    ),
    "inapp": "okwallet.core.notify_backends.InAppBackend",
}
OKWALLET_SMS_FILE = VAR_DIR / "outbox-sms.jsonl"
# Our public base URL: where payment channels send their notifications (/wallet/notify/<channel>/)
# and what links in messages start with. Empty: the channel adapter's default / the request's host.
OKWALLET_PUBLIC_URL = os.environ.get("OKWALLET_PUBLIC_URL", "")

# Structured JSON lines with the request id, personal data redacted (okwallet.core.logs);
# OKWALLET_LOG_FORMAT=plain for human-readable lines (still redacted).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "okwallet.core.logs.RequestIdFilter"},
        "redact": {"()": "okwallet.core.logs.RedactingFilter"},
    },
    "formatters": {
        "json": {"()": "okwallet.core.logs.JsonFormatter"},
        "plain": {"()": "okwallet.core.logs.PlainFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain" if os.environ.get("OKWALLET_LOG_FORMAT", "json") == "plain" else "json",
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
OKWALLET_ACCESS_LOG = env_bool("OKWALLET_ACCESS_LOG", True)

NINJA_PAGINATION_PER_PAGE = 20
