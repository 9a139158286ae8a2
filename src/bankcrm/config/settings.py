"""bankcrm settings: every value comes from a ``BANKCRM_*`` environment variable.

With nothing set, bankcrm runs embedded: SQLite and the keyring under ``./var/``,
background jobs in process, no broker. ``.env.example`` documents every variable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"BANKCRM_{name}", default)


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"BANKCRM_{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = env(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"BANKCRM_{name} must be an integer, not {value!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


# --- Mode and state -----------------------------------------------------------------------

ENVIRONMENT = (env("ENV", "embedded") or "embedded").lower()
if ENVIRONMENT not in {"embedded", "production"}:
    raise ImproperlyConfigured(
        f"BANKCRM_ENV must be 'embedded' or 'production', not {ENVIRONMENT!r}"
    )
IS_PRODUCTION = ENVIRONMENT == "production"

VAR_DIR = Path(env("VAR_DIR", str(Path.cwd() / "var")) or "var").resolve()
DATA_DIR = Path(env("DATA_DIR", str(Path.cwd().parent / "shared" / "data")) or "").resolve()
# The currency in which customer totals are shown (other currencies through banking.FxRate).
BASE_CURRENCY = (env("BASE_CURRENCY", "CNY") or "CNY").upper()

DEBUG = env_bool("DEBUG", False)

_INSECURE_KEY_PREFIX = "bankcrm-embedded-"


def _embedded_secret_key() -> str:
    """Create (once) and read the embedded instance's own secret key, mode 0600."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(_INSECURE_KEY_PREFIX + secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env("SECRET_KEY") or ""
SECRET_KEY_IS_DEFAULT = not SECRET_KEY
if not SECRET_KEY:
    SECRET_KEY = _embedded_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- Applications -------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",  # serves the API docs' Swagger UI from its bundled static files (no CDN)
    "bankcrm.core",
    "bankcrm.access",
    "bankcrm.audit",
    "bankcrm.events",
    "bankcrm.customization",
    "bankcrm.customers",
    "bankcrm.banking",
    "bankcrm.lending",
    "bankcrm.risk",
    "bankcrm.compliance",
    "bankcrm.support",
    "bankcrm.marketing",
    "bankcrm.analytics",
    "bankcrm.integrations",
    "bankcrm.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "bankcrm.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "bankcrm.access.middleware.AccessPolicyMiddleware",
    "bankcrm.core.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "bankcrm.config.urls"
WSGI_APPLICATION = "bankcrm.config.wsgi.application"
AUTH_USER_MODEL = "access.User"
LOGIN_URL = "access:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "access:login"

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
                "bankcrm.web.context_processors.shell",
            ],
        },
    }
]

# --- Database -----------------------------------------------------------------------------

DATABASE_URL = env("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'bankcrm.sqlite3'}"
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    if _db["NAME"] != ":memory:":
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE transactions serialise writers up front instead of failing mid-way.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db["CONN_MAX_AGE"] = 0
    _db["TEST"] = {"NAME": env("TEST_SQLITE_NAME") or None}
else:
    _db.setdefault("OPTIONS", {})
    if _db["ENGINE"].endswith("postgresql"):
        # PostgreSQL's JIT compiles large plans (segment rules, reports) for longer than they
        # run: with it on, a million-customer segment took 3x as long (docs/performance.md).
        # A DATABASE_URL that sets ?options=... keeps its own.
        _db["OPTIONS"].setdefault("options", "-c jit=off")
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
# Covering indexes (INCLUDE) serve PostgreSQL's index-only scans; SQLite builds the same
# indexes on their key columns alone, which is what the embedded default needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and sessions -------------------------------------------------------------------

CACHE_URL = env("CACHE_URL")
if CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Sessions live in the database so that any web process can serve any request.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 15)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True  # sliding expiry: the session ends after idle time
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# --- Security -----------------------------------------------------------------------------

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "bankcrm.access.passwords.CharacterClassValidator"},
]
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
PASSWORD_MAX_AGE_DAYS = env_int("PASSWORD_MAX_AGE_DAYS", 90)
MFA_ISSUER = env("MFA_ISSUER", "bankcrm") or "bankcrm"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if IS_PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^health/"]
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", False)
    # Preloading binds every subdomain of the bank's domain for years: the domain owner's
    # decision (BANKCRM_HSTS_PRELOAD), not a defect of an installation that leaves it off.
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS.append("security.W021")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 2 * 1024 * 1024)
# Largest learning file POST /api/v1/risk/models/train trains within the request (bytes);
# larger files are trained with `bankcrm risk train`.
RISK_TRAIN_UPLOAD_MAX_BYTES = env_int("RISK_TRAIN_UPLOAD_MAX_BYTES", 256 * 1024)

# --- Keys ---------------------------------------------------------------------------------

# A file path, or ``env:NAME`` to read the keyring JSON from another variable, or a dotted
# path to a KMS adapter class (see bankcrm.core.crypto.keyring).
KEYRING = env("KEYRING") or str(VAR_DIR / "keyring.json")

# --- Background jobs ----------------------------------------------------------------------

BROKER_URL = env("BROKER_URL") or ""
CELERY_BROKER_URL = BROKER_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Outbox delivery (bankcrm.events): attempts before an event is dead-lettered, the retry
# back-off (base doubling per attempt, capped) and the sweep's batch size.
EVENTS_MAX_ATTEMPTS = env_int("EVENTS_MAX_ATTEMPTS", 8)
EVENTS_RETRY_BASE_SECONDS = env_int("EVENTS_RETRY_BASE_SECONDS", 30)
EVENTS_RETRY_MAX_SECONDS = env_int("EVENTS_RETRY_MAX_SECONDS", 3600)
EVENTS_DISPATCH_BATCH = env_int("EVENTS_DISPATCH_BATCH", 100)

# --- Language and time --------------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True
# Zone shown to a user who has not chosen one, by language.
DEFAULT_USER_TIMEZONES = {"zh-hans": "Asia/Shanghai", "en": "UTC"}
# The bank's own zone: its business day (the nightly loan servicing, "today" for days past
# due) and the clock of scheduled jobs.
BANK_TIMEZONE = env("BANK_TIMEZONE", "Asia/Shanghai") or "Asia/Shanghai"
CELERY_TIMEZONE = BANK_TIMEZONE

# --- Static files -------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "static")) or "")


def _bootstrap_dir() -> str:
    try:
        from xstatic.pkg import bootstrap  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - install step missing
        raise ImproperlyConfigured(
            "XStatic-Bootstrap is not installed; run `make install`."
        ) from exc
    return bootstrap.BASE_DIR


STATICFILES_DIRS = [("bootstrap", _bootstrap_dir())]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "media")},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not IS_PRODUCTION

# --- Logging ------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO") or "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # PDF rendering (model cards, reports) logs every layout step and font subset.
        "weasyprint": {"level": "ERROR"},
        "fontTools": {"level": "WARNING"},
        # Without a broker every job runs inside the command or request that queued it: a
        # line per finished job would drown the command's own output.
        **({"celery.app.trace": {"level": "WARNING"}} if CELERY_TASK_ALWAYS_EAGER else {}),
    },
}

HELP_URL = env("HELP_URL", "/help/") or "/help/"
# Shown in the top bar of every page.
BANK_NAME = env("BANK_NAME", "bankcrm") or "bankcrm"
# Compliance (docs/compliance.md, "Settings").
COMPLIANCE_SCREENING_HIT_FLOOR = float(env("COMPLIANCE_SCREENING_HIT_FLOOR", "0.8") or "0.8")
COMPLIANCE_RESCREEN_STALE_MINUTES = env_int("COMPLIANCE_RESCREEN_STALE_MINUTES", 15)
AML_NIGHTLY_LOOKBACK_DAYS = env_int("AML_NIGHTLY_LOOKBACK_DAYS", 400)
AML_REPORTING_INSTITUTION_CODE = env("AML_REPORTING_INSTITUTION_CODE", "") or ""
# --- E-mail --------------------------------------------------------------------------------

# Outgoing mail: ``smtp://user:password@host:port`` (``smtp+starttls://`` for STARTTLS,
# ``smtps://`` for TLS). Without it mail is written as files under var/mail/ (embedded
# default: nothing leaves the machine).
EMAIL_URL = env("EMAIL_URL", "") or ""
if EMAIL_URL:
    from urllib.parse import unquote, urlsplit

    _mail = urlsplit(EMAIL_URL)
    if _mail.scheme not in {"smtp", "smtp+starttls", "smtps"} or not _mail.hostname:
        raise ImproperlyConfigured(
            f"BANKCRM_EMAIL_URL must be smtp://, smtp+starttls:// or smtps://host:port, "
            f"not {EMAIL_URL!r}"
        )
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _mail.hostname
    EMAIL_PORT = _mail.port or (465 if _mail.scheme == "smtps" else 25)
    EMAIL_HOST_USER = unquote(_mail.username or "")
    EMAIL_HOST_PASSWORD = unquote(_mail.password or "")
    EMAIL_USE_TLS = _mail.scheme == "smtp+starttls"
    EMAIL_USE_SSL = _mail.scheme == "smtps"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
# The service desk's address: the From of replies, and the domain of their Message-IDs.
SUPPORT_EMAIL_FROM = env("SUPPORT_EMAIL_FROM", "service@bankcrm.localhost") or ""
DEFAULT_FROM_EMAIL = SUPPORT_EMAIL_FROM
SERVER_EMAIL = SUPPORT_EMAIL_FROM

# --- Customer service (docs/support.md, "Settings") ------------------------------------------

# The address customers reach in links sent to them (survey, web form acknowledgement).
PUBLIC_BASE_URL = (env("PUBLIC_BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/")
# Mailbox read by `bankcrm mail-ingest --imap` and the periodic poll:
# imaps://user:password@host:993/INBOX (blank: no polling).
SUPPORT_IMAP_URL = env("SUPPORT_IMAP_URL", "") or ""
SUPPORT_IMAP_POLL_SECONDS = env_int("SUPPORT_IMAP_POLL_SECONDS", 60)
# Queue for cases from the web form and from e-mail to no queue's address.
SUPPORT_DEFAULT_QUEUE = env("SUPPORT_DEFAULT_QUEUE", "contact_centre") or ""
# Business calendar for queues and policies that name none.
SUPPORT_DEFAULT_CALENDAR = env("SUPPORT_DEFAULT_CALENDAR", "CN") or ""
# Public web form: most cases one address (IP) may open per hour.
SUPPORT_WEB_FORM_PER_HOUR = env_int("SUPPORT_WEB_FORM_PER_HOUR", 5)
# Satisfaction survey links stay valid this many days.
SUPPORT_SURVEY_DAYS = env_int("SUPPORT_SURVEY_DAYS", 14)
# Complaint redress above this amount (in BASE_CURRENCY) needs a second person's approval.
SUPPORT_REDRESS_APPROVAL_THRESHOLD = env("SUPPORT_REDRESS_APPROVAL_THRESHOLD", "1000") or "1000"
# How often the SLA sweep raises warnings and breaches (seconds).
SUPPORT_SLA_SWEEP_SECONDS = env_int("SUPPORT_SLA_SWEEP_SECONDS", 60)

# --- Analytics (docs/analytics.md, "Exports") ----------------------------------------------

# Exports of more rows than this run as background jobs (a download link when done).
ANALYTICS_EXPORT_JOB_ROWS = env_int("ANALYTICS_EXPORT_JOB_ROWS", 50_000)
# A PDF holds at most this many rows (larger reports: CSV or XLSX).
ANALYTICS_EXPORT_PDF_MAX_ROWS = env_int("ANALYTICS_EXPORT_PDF_MAX_ROWS", 5_000)
# Export job files are deleted this many days after they were written.
ANALYTICS_EXPORT_RETENTION_DAYS = env_int("ANALYTICS_EXPORT_RETENTION_DAYS", 7)
ANALYTICS_EXPORT_DIR = env("ANALYTICS_EXPORT_DIR", str(VAR_DIR / "exports")) or ""

# --- Marketing (docs/marketing.md, "Settings") -----------------------------------------------

# The From of campaign e-mail (sent through EMAIL_URL, like all the bank's e-mail).
MARKETING_EMAIL_FROM = env("MARKETING_EMAIL_FROM", "offers@bankcrm.localhost") or ""
# The SMS gateway adapter (a dotted path); the default writes each SMS as a JSON line in
# MARKETING_SMS_DIR, for installations without a gateway and for tests.
MARKETING_SMS_BACKEND = (
    env("MARKETING_SMS_BACKEND", "bankcrm.marketing.channels.sms.FileSmsBackend") or ""
)
MARKETING_SMS_DIR = env("MARKETING_SMS_DIR", str(VAR_DIR / "sms")) or ""
# Contact limit across campaigns: at most this many messages (e-mail, SMS, calls) to one
# customer within MARKETING_FREQUENCY_DAYS days.
MARKETING_FREQUENCY_CAP = env_int("MARKETING_FREQUENCY_CAP", 3)
MARKETING_FREQUENCY_DAYS = env_int("MARKETING_FREQUENCY_DAYS", 30)
# Tracking and unsubscribe links in campaign messages stay valid this many days.
MARKETING_LINK_DAYS = env_int("MARKETING_LINK_DAYS", 90)
# A customer's preference page link stays valid this many days.
MARKETING_PREFERENCE_LINK_DAYS = env_int("MARKETING_PREFERENCE_LINK_DAYS", 30)
# Messages the sender claims per batch.
MARKETING_SEND_BATCH = env_int("MARKETING_SEND_BATCH", 500)
# A dismissed next best offer is not shown again to that customer for this many days.
MARKETING_NBO_DISMISS_DAYS = env_int("MARKETING_NBO_DISMISS_DAYS", 90)
PORT = env_int("PORT", 8000)
