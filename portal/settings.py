"""Django settings, read from the environment.

With nothing set Fleetwatch runs embedded: SQLite (WAL) in the data directory, the in-process channel
layer and the django-q2 ORM broker. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL,
channels-redis and the django-q2 Redis broker. Every variable is listed in the README.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONCE

from portal import __version__
from portal.datafiles import protect_directory
from portal.keyfiles import read_or_create_key_file


def env_bool(name: str, default: bool = False) -> bool:
    """Read a yes/no environment variable."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    """Read a comma-separated environment variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("FLEETWATCH_DATA_DIR") or BASE_DIR / "var").resolve()
protect_directory(DATA_DIR)  # 0700: the database, keys and cache are the server's alone
FLEETWATCH_VERSION = __version__
# Prometheus metrics: every process of this host writes its figures here and /metrics adds them up
# (prometheus-client's multiprocess mode reads the variable when first imported, so it is set this early).
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(DATA_DIR / "metrics"))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
# /metrics answers only with this bearer token; unset, it is off (404).
FLEETWATCH_METRICS_TOKEN = os.environ.get("FLEETWATCH_METRICS_TOKEN", "")

SECRET_KEY = os.environ.get("SECRET_KEY") or read_or_create_key_file(
    path=DATA_DIR / "secret_key", generate=lambda: secrets.token_urlsafe(50)
)
# Keys for secrets at rest (vendor credentials, SNMP communities, camera passwords). The first key
# encrypts; every key decrypts, so a new key can be put first and old rows re-encrypted later.
# The key file may hold several, comma-separated, as the variable does (a restored backup writes them so).
FLEETWATCH_SECRETS_KEYS = env_list("FLEETWATCH_SECRETS_KEYS") or [
    key.strip() for key in read_or_create_key_file(
        path=DATA_DIR / "secrets_key", generate=lambda: Fernet.generate_key().decode()).split(",") if key.strip()
]

DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SECURE_COOKIES = env_bool("FLEETWATCH_SECURE_COOKIES")
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(os.environ.get("FLEETWATCH_SESSION_AGE", 60 * 60 * 12))
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("FLEETWATCH_BEHIND_TLS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if SECURE_COOKIES:
    # Served over HTTPS: browsers are told to keep to it, and plain HTTP is redirected (but the health check,
    # which load balancers call on the plain port).
    SECURE_SSL_REDIRECT = True
    # The agent endpoints too: an agent never follows a redirect, and only this server's own agent reaches them in
    # plain HTTP (on the loopback address; the reverse proxy redirects port 80 itself).
    SECURE_REDIRECT_EXEMPT = [r"^api/health/$", r"^api/agent/", r"^metrics$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("FLEETWATCH_HSTS_SECONDS", 365 * 24 * 3600))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("FLEETWATCH_HSTS_INCLUDE_SUBDOMAINS")
    SECURE_HSTS_PRELOAD = env_bool("FLEETWATCH_HSTS_PRELOAD")
# Both are the operator's choice about the whole domain, not this server's: off by default (they would force
# HTTPS on every other host of the domain), so `check --deploy` is not asked to warn about a deliberate default.
SILENCED_SYSTEM_CHECKS = [check for check, chosen in (("security.W005", env_bool("FLEETWATCH_HSTS_INCLUDE_SUBDOMAINS")),
                                                      ("security.W021", env_bool("FLEETWATCH_HSTS_PRELOAD")))
                          if not chosen]

# Every page works under this policy: scripts and styles from our own static files only, no inline script,
# no eval, nothing framed, nothing loaded from elsewhere (the live socket is same-origin).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # The terminal (xterm.js) makes <style> elements; the remote session page stamps them with this
        # response's nonce. Pages that never ask for a nonce send none.
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Sign-in throttling (django-axes): after FLEETWATCH_SIGNIN_FAILURES failed attempts for one user name, or
# from one address, further attempts are refused for FLEETWATCH_SIGNIN_LOCKOUT_MINUTES; each is audited.
AXES_FAILURE_LIMIT = int(os.environ.get("FLEETWATCH_SIGNIN_FAILURES", 5))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("FLEETWATCH_SIGNIN_LOCKOUT_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "portal.accounts.middleware.client_ip"
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"
AXES_VERBOSE = False
AXES_USERNAME_CALLABLE = "portal.accounts.sign_in.signing_in_as"
# Django's backend only: a deactivated user's right password answers like a wrong one (allauth's backend would
# say the account is inactive, telling a guesser the password was right).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

# Sign-in, second factors, sessions and single sign-on through django-allauth: TOTP, WebAuthn passkeys and
# recovery codes (allauth.mfa), each user's sessions (allauth.usersessions) and OpenID Connect (off unless
# FLEETWATCH_OIDC_SERVER_URL is set). Accounts are made by administrators only: nobody signs up, and a single
# sign-on identity reaches only a user who exists already (see portal/accounts/sign_in.py).
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "portal.accounts.sign_in.AccountAdapter"
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
# Wrong passwords are throttled by django-axes (below AXES_FAILURE_LIMIT, audited); allauth's own counter, which
# also limits second-factor codes (10 wrong codes in 5 minutes per user), is set above axes' so axes answers first.
ACCOUNT_RATE_LIMITS = {"login_failed": "20/m/ip,10/300s/key"}
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = os.environ.get("FLEETWATCH_MFA_ISSUER", "Fleetwatch")
MFA_PASSKEY_LOGIN_ENABLED = False
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = env_bool("FLEETWATCH_WEBAUTHN_ALLOW_HTTP")
USERSESSIONS_TRACK_ACTIVITY = True  # noted at most once a minute (SessionActivityMiddleware)
SOCIALACCOUNT_ADAPTER = "portal.accounts.sign_in.SingleSignOnAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_PROVIDERS = {}
if os.environ.get("FLEETWATCH_OIDC_SERVER_URL"):
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {"APPS": [{
        "provider_id": "sso", "name": os.environ.get("FLEETWATCH_OIDC_NAME", "single sign-on"),
        "client_id": os.environ.get("FLEETWATCH_OIDC_CLIENT_ID", ""),
        "secret": os.environ.get("FLEETWATCH_OIDC_CLIENT_SECRET", ""),
        "settings": {"server_url": os.environ["FLEETWATCH_OIDC_SERVER_URL"], "token_auth_method": "client_secret_post"},
    }]}

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "channels",
    "django_q",
    "axes",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "portal.events",
    "portal.accounts",
    "portal.tenancy",
    "portal.tags",
    "portal.custom_fields",
    "portal.dynamic_groups",
    "portal.policies",
    "portal.inventory",
    "portal.audit",
    "portal.actions",
    "portal.patching",
    "portal.remote",
    "portal.operations",
    "monitoring",
    "connectors",
    "dashboard",
    "realtime",
    "graph",
]

MIDDLEWARE = [
    "portal.operations.observation.RequestObservationMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "portal.accounts.middleware.SessionActivityMiddleware",
    "portal.accounts.middleware.ActorMiddleware",
    "portal.accounts.middleware.TimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.accounts.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
WSGI_APPLICATION = None
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.actor",
            ],
        },
    },
]

# --- Storage: SQLite (WAL) embedded, PostgreSQL when DATABASE_URL is set -------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
SQLITE_OPTIONS = {
    # WAL lets readers run beside the one writer; NORMAL sync is safe under WAL and about ten times
    # faster than FULL; the busy timeout keeps the task workers from failing with "database is locked".
    "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
# Keep SQLite connections open: reopening one (and re-running its PRAGMAs) on every database call of a
# websocket consumer made agent connects ten times slower.
SQLITE_CONN_MAX_AGE = 600
if DATABASE_URL.startswith("sqlite"):
    DATABASES = {"default": {**dj_database_url.parse(DATABASE_URL), "OPTIONS": SQLITE_OPTIONS,
                             "CONN_MAX_AGE": SQLITE_CONN_MAX_AGE}}
elif DATABASE_URL:
    # One pool of connections per process, shared by its threads (the agent sockets' pool, the web
    # views', the heartbeat and inventory writers): a process never holds more than this many, so every
    # process of run_fleet plus the task cluster stays within PostgreSQL's default 100 connections.
    # 0 turns the pool off and opens a connection per request or call (for PgBouncer in front).
    DB_POOL_SIZE = int(os.environ.get("FLEETWATCH_DB_POOL_SIZE", 12))
    DATABASES = {"default": {**dj_database_url.parse(DATABASE_URL), "CONN_MAX_AGE": 0}}
    if DB_POOL_SIZE:
        DATABASES["default"]["OPTIONS"] = {"pool": {"min_size": 1, "max_size": DB_POOL_SIZE, "timeout": 30}}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "fleetwatch.sqlite3",
            "OPTIONS": SQLITE_OPTIONS,
            "CONN_MAX_AGE": SQLITE_CONN_MAX_AGE,
            # A file, not memory, so a server process started by a test sees the test database.
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Realtime and jobs: in-process embedded, Redis when REDIS_URL is set -------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.FleetRedisChannelLayer",
            "CONFIG": {
                # redis-py 8's default socket timeout equals the layer's 5 s blocking receive and
                # kills consumers. The pool waits up to 30 s for one of its connections (see the layer).
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": 200, "timeout": 30}],
                "prefix": os.environ.get("FLEETWATCH_CHANNEL_PREFIX", "fleetwatch"),
                "capacity": 1000,
                # All of a process's sockets share one inbox list in Redis: with thousands of agents per
                # process, a reconnect storm hands over one message per hello (see realtime/layers.py).
                "channel_capacity": {"specific.*": 20000},
                "expiry": 60,
            },
        }
    }
    # JSON, never pickles: whoever can write a key must not be able to run code here (portal/cache.py).
    CACHES = {"default": {"BACKEND": "portal.cache.FleetRedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"serializer": "portal.cache.JsonSerializer"}}}
    Q_BROKER = {"redis": REDIS_URL}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "realtime.peer_layer.PeerChannelLayer",
                                 "CONFIG": {"peers_dir": str(DATA_DIR / "peers")}}}
    # File-based so the web process and the task cluster see each other's entries (cluster stats).
    CACHES = {
        "default": {"BACKEND": "portal.cache.JsonFileCache", "LOCATION": str(DATA_DIR / "cache")}
    }
    Q_BROKER = {"orm": "default"}

Q_CLUSTER = {
    "name": "fleetwatch",
    "workers": int(os.environ.get("FLEETWATCH_WORKERS", 2)),
    "timeout": 300,
    # The ORM broker re-delivers a task after ``retry`` seconds, so it must exceed ``timeout``.
    "retry": 360,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "poll": 1,
    "label": "Task queue",
    **Q_BROKER,
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("FLEETWATCH_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Front-end packages from the npm registry are copied here by `make assets`; never committed.
STATICFILES_DIRS = [BASE_DIR / "build" / "static"]
WHITENOISE_USE_FINDERS = True

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "fleetwatch@localhost")

FLEETWATCH_PAGE_SIZE = 25
# Agents: seconds between heartbeats (the server tells each agent), and how many missed heartbeats
# make the silence sweep mark a device offline.
FLEETWATCH_HEARTBEAT_SECONDS = int(os.environ.get("FLEETWATCH_HEARTBEAT_SECONDS", 30))
# Threads per web process for the agent sockets' database calls (realtime/agent_db.py).
FLEETWATCH_AGENT_DB_THREADS = int(os.environ.get("FLEETWATCH_AGENT_DB_THREADS", 8))
# Reconnects a second the fleet is asked to keep to after a restart: each welcome tells the agent to spread
# its first reconnect over (agents enrolled / this) seconds (realtime/reconnect_pacing.py).
FLEETWATCH_RECONNECTS_PER_SECOND = int(os.environ.get("FLEETWATCH_RECONNECTS_PER_SECOND", 400))
FLEETWATCH_OFFLINE_AFTER_MISSED = 3
FLEETWATCH_METRICS_RETENTION_DAYS = int(os.environ.get("FLEETWATCH_METRICS_RETENTION_DAYS", 30))
FLEETWATCH_INVENTORY_HISTORY_DAYS = int(os.environ.get("FLEETWATCH_INVENTORY_HISTORY_DAYS", 180))
# GraphQL introspection (schema discovery) is off unless asked for, or when DEBUG is on.
FLEETWATCH_GRAPHQL_INTROSPECTION = env_bool("FLEETWATCH_GRAPHQL_INTROSPECTION", DEBUG)
# A token's last-used time is written at most this often, so integrators polling hard cost no writes.
FLEETWATCH_TOKEN_TOUCH_SECONDS = 60
FLEETWATCH_TRUST_X_FORWARDED_FOR = env_bool("FLEETWATCH_TRUST_X_FORWARDED_FOR")

# FLEETWATCH_LOG_FORMAT=json: one JSON object per line, with the request id and the signed-in user.
FLEETWATCH_LOG_FORMAT = "json" if os.environ.get("FLEETWATCH_LOG_FORMAT", "").strip().lower() == "json" else "plain"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "portal.operations.observation.RequestContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "pythonjsonlogger.json.JsonFormatter",
                 "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(actor)s %(process)d",
                 "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"}},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": FLEETWATCH_LOG_FORMAT,
                             "filters": ["request"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("FLEETWATCH_LOG_LEVEL", "INFO")},
    # httpx logs every request at INFO: a connector sync would write thousands of lines.
    # django-axes logs every failed sign-in at INFO; the audit log keeps them.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"},
                "axes": {"level": "WARNING"}},
}

# Remote actions: how long an action waits for an offline agent by default, and its output cap.
FLEETWATCH_ACTION_EXPIRY_HOURS = int(os.environ.get("FLEETWATCH_ACTION_EXPIRY_HOURS", 72))
FLEETWATCH_ACTION_SIGNING_KEY = DATA_DIR / "action-signing.key"
# Remote sessions (portal/remote): an idle session ends, transcripts are kept for a while, transfers are bounded.
FLEETWATCH_REMOTE_IDLE_MINUTES = int(os.environ.get("FLEETWATCH_REMOTE_IDLE_MINUTES", 15))
FLEETWATCH_REMOTE_TRANSCRIPT_DAYS = int(os.environ.get("FLEETWATCH_REMOTE_TRANSCRIPT_DAYS", 90))
FLEETWATCH_REMOTE_TRANSCRIPT_MAX_MB = int(os.environ.get("FLEETWATCH_REMOTE_TRANSCRIPT_MAX_MB", 64))
FLEETWATCH_REMOTE_FILE_MAX_MB = int(os.environ.get("FLEETWATCH_REMOTE_FILE_MAX_MB", 100))
FLEETWATCH_NETWORK_RETENTION_DAYS = int(os.environ.get("FLEETWATCH_NETWORK_RETENTION_DAYS", 30))
FLEETWATCH_SNMP_CONCURRENCY = int(os.environ.get("FLEETWATCH_SNMP_CONCURRENCY", 200))
# A poll cycle is split into this many chunks, one task each, so every task worker takes a share.
FLEETWATCH_SNMP_CHUNKS = max(1, int(os.environ.get("FLEETWATCH_SNMP_CHUNKS", Q_CLUSTER["workers"])))
# How often a Pulseway script execution is polled while it runs.
FLEETWATCH_PULSEWAY_POLL_SECONDS = float(os.environ.get("FLEETWATCH_PULSEWAY_POLL_SECONDS", 5))
# Alert notifications: high and critical alerts are sent at once; a summary goes out daily.
FLEETWATCH_ALERT_EMAILS = env_list("FLEETWATCH_ALERT_EMAILS")
FLEETWATCH_SLACK_WEBHOOK_URL = os.environ.get("FLEETWATCH_SLACK_WEBHOOK_URL", "")
FLEETWATCH_BASE_URL = os.environ.get("FLEETWATCH_BASE_URL", "http://127.0.0.1:8000")
