"""VoucherHub settings: one module, everything that differs per machine comes from the environment.

`DJANGO_ENV=development` (the default) gives laptop defaults: SQLite under var/, local-memory
cache, throw-away keys. `DJANGO_ENV=production` refuses to start without its own secrets and
turns on every transport-security setting that `manage.py check --deploy` asks for.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("DJANGO_ENV must be 'development' or 'production'")
PRODUCTION = DJANGO_ENV == "production"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
# Marked POST fields and variables (plaintext codes, passwords) are hidden on error pages also under DEBUG.
DEFAULT_EXCEPTION_REPORTER_FILTER = "voucherhub.core.errorreports.AlwaysSafeExceptionReporterFilter"

# Development-only fallbacks: fixed, public, and refused in production.
_DEV_SECRET_KEY = "dev-insecure-voucherhub-secret-key-change-me-0123456789abcdef"
_DEV_VAULT_KEY = "ZGV2LWluc2VjdXJlLXZhdWx0LWtleS0zMmJ5dGVzISE="  # 32 bytes, base64
_DEV_INDEX_KEY = "ZGV2LWluc2VjdXJlLWluZGV4LWtleS0zMmJ5dGVzISE="


def _required(name: str, dev_default):
    value = env(name, default=None)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production")
    return dev_default


SECRET_KEY = _required("SECRET_KEY", _DEV_SECRET_KEY)
VAULT_KEYS = [k.strip() for k in str(_required("VAULT_KEYS", _DEV_VAULT_KEY)).split(",") if k.strip()]
VAULT_INDEX_KEY = _required("VAULT_INDEX_KEY", _DEV_INDEX_KEY)
if PRODUCTION and (SECRET_KEY == _DEV_SECRET_KEY or _DEV_VAULT_KEY in VAULT_KEYS or VAULT_INDEX_KEY == _DEV_INDEX_KEY):
    raise ImproperlyConfigured("production must not use the development keys")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "import_export",
    "django_htmx",
    "django_bootstrap5",
    "bootstrap",
    "voucherhub.core",
    "voucherhub.dashboards",
    "catalog",
    "channels",
    "riskcontrol",
    "redemption",
    "settlement",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files with DEBUG off too (`make run`, gunicorn): WhiteNoise, from STATIC_ROOT after collectstatic.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "catalog.middleware.AdminSearchCodeGuard",  # a card code in an admin search box: refused, masked in the audit log
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "voucherhub.urls"
WSGI_APPLICATION = "voucherhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "voucherhub.core.context_processors.navigation",
                "settlement.context_processors.payment_sandbox_banner",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'voucherhub.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The same backend, with decimal sums read back at their field's places (voucherhub/core/sqlite/base.py).
    DATABASES["default"]["ENGINE"] = "voucherhub.core.sqlite"
    # Tests get an in-memory database, as with Django's own engine name (pytest-xdist would otherwise name a
    # worker's database after this file's path: test_/path/voucherhub.sqlite3_gw0, which cannot be opened).
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}
    # WAL + IMMEDIATE: the web server and the django-q2 cluster share one file without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # voucherhub/core/prepared.py: the hot paths' statements prepared on the server (False behind a pooler in
    # transaction mode that does not track prepared statements, such as PgBouncer before 1.21).
    PREPARED_STATEMENTS = env.bool("PREPARED_STATEMENTS", default=True)
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The same backend, with a health check that asks the socket instead of sending SELECT 1.
        DATABASES["default"]["ENGINE"] = "voucherhub.core.postgres"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://voucherhub")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Off production WhiteNoise also serves straight from the apps' static folders (no collectstatic before
# `make run`); in production run collectstatic at deploy.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=not PRODUCTION)
# Uploads (product pictures). SERVE_MEDIA: Django serves MEDIA_ROOT itself under MEDIA_URL (development and
# `make run`); in production the proxy serves MEDIA_ROOT, shared by the web nodes (docs/operations.md).
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=not PRODUCTION)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024

DEFAULT_CURRENCY = "CNY"

# The sandbox payment provider (no real money moves): on for development, off in production unless set
# explicitly, and then `check --deploy` reports an error and staff see a banner (docs/settlement.md).
PAYMENT_SANDBOX = env.bool("PAYMENT_SANDBOX", default=not PRODUCTION)

# Behind a proxy, the client address comes from this header (set only when the proxy is trusted).
CLIENT_IP_HEADER = env.str("CLIENT_IP_HEADER", default="")
# How many proxies of ours stand in front (each appends one address to a list header): the address is read
# that many entries from the right, never from the client-written left end (voucherhub.core.net.client_ip).
CLIENT_IP_PROXY_COUNT = env.int("CLIENT_IP_PROXY_COUNT", default=1)

# --- Background jobs -------------------------------------------------------
Q_CLUSTER = {
    "name": "voucherhub",
    "orm": "default",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 1800,
    "retry": 1900,
    "max_attempts": 1,
    "catch_up": False,
    "sync": env.bool("Q_SYNC", default=False),
    "label": "Django Q2",
}
# Long jobs (exports, code imports; voucherhub/core/jobs.py, docs/operations.md): a working job writes a
# heartbeat every JOBS_HEARTBEAT_SECONDS; one silent for JOBS_STALE_SECONDS lost its worker, and the sweeper
# (every minute) queues it again, or fails it ("the worker stopped") once it has had JOBS_MAX_ATTEMPTS.
JOBS_HEARTBEAT_SECONDS = env.int("JOBS_HEARTBEAT_SECONDS", default=10)
JOBS_STALE_SECONDS = env.int("JOBS_STALE_SECONDS", default=120)
JOBS_MAX_ATTEMPTS = env.int("JOBS_MAX_ATTEMPTS", default=2)
# A database or Redis that is away for a moment answers 503 with this Retry-After (voucherhub/core/outages.py).
UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("UNAVAILABLE_RETRY_AFTER_SECONDS", default=5)

# --- API -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "voucherhub.core.api.exception_handler",
    # DRF's parsers, refusing control characters and non-characters in any text (voucherhub/core/apiparsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "voucherhub.core.apiparsers.JSONParser",
        "voucherhub.core.apiparsers.FormParser",
        "voucherhub.core.apiparsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "voucherhub.core.api.ApiPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "VoucherHub API",
    "DESCRIPTION": "Signed API for distributors and merchant terminals. See docs/api-signing.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "voucherhub.core.api.schema_query_empty_values"],
}

# --- Bootstrap from a packaged copy (no CDN) -------------------------------
BOOTSTRAP5 = {
    "css_url": {"url": "/static/bootstrap/css/bootstrap.min.css"},
    "javascript_url": {"url": "/static/bootstrap/js/bootstrap.bundle.min.js"},
}

# --- Admin theme -------------------------------------------------------------
UNFOLD = {
    "SITE_TITLE": "VoucherHub",
    "SITE_HEADER": "VoucherHub",
    "SITE_URL": "/",
    "SITE_FAVICONS": [{"rel": "icon", "type": "image/svg+xml", "href": lambda request: static("core/favicon.svg")}],
    "STYLES": [lambda request: static("core/admin.css")],
    "SHOW_LANGUAGES": True,
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": True,
    # A "sandbox payments on" label in the admin's header while the sandbox adapter is on in production.
    "ENVIRONMENT": "settlement.context_processors.admin_environment",
    # The sidebar by ops' tasks (seven sections), not by Django app; each link only for who may view it.
    "SIDEBAR": {"show_search": True, "show_all_applications": False, "navigation": "voucherhub.core.admin_nav.navigation"},
}

# --- Mail ------------------------------------------------------------------
# Development prints mail on the console; production sends it by SMTP (EMAIL_HOST ...). A console backend in
# production is refused by `check --deploy` unless CONSOLE_MESSAGES_ALLOWED=true, and then prints every
# link and code masked (voucherhub/core/mail.py, voucherhub/core/checks.py).
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "voucherhub.core.mail.ConsoleEmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
CONSOLE_MESSAGES_ALLOWED = env.bool("CONSOLE_MESSAGES_ALLOWED", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="VoucherHub <noreply@voucherhub.local>")
OPS_ALERT_EMAILS = env.list("OPS_ALERT_EMAILS", default=[])

# --- Security ----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes call them over plain HTTP inside the network
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"},
    },
    # Private links (/my/<token>/ ...) in a logged path or referrer lose their token (voucherhub/core/logmask.py).
    # Django's default handlers are replaced by these filtered ones: its "django" console handler printed
    # "Not Found: /my/<token>/" unfiltered under DEBUG, and runserver's log holds every request line.
    "filters": {
        "private_paths": {"()": "voucherhub.core.logmask.PrivatePathFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["private_paths"]},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server", "filters": ["private_paths"]},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "private_paths"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},  # and on to the root's console
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
    },
}

# --- Spreadsheets: django-import-export's formats, with XLSX text made writable (voucherhub/core/text.py) ---
from import_export.formats import base_formats  # noqa: E402

from voucherhub.core.text import SafeXLSX  # noqa: E402

IMPORT_EXPORT_FORMATS = [SafeXLSX if fmt is base_formats.XLSX else fmt for fmt in base_formats.DEFAULT_FORMATS]

# --- Card-code imports ----------------------------------------------------------
# Files up to these sizes are checked and stored during the request; larger ones run as django-q2 jobs.
IMPORT_INLINE_MAX_ROWS = env.int("IMPORT_INLINE_MAX_ROWS", default=5_000)
IMPORT_INLINE_MAX_BYTES = env.int("IMPORT_INLINE_MAX_BYTES", default=1024 * 1024)
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=50 * 1024 * 1024)

# --- Channels ------------------------------------------------------------------
# The signed distributor API: /api/v1/ uses only signed requests (no session, no CSRF).
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = ["channels.api_auth.DistributorKeyAuthentication"]
# Commission reaches at most 3 levels up; this may only lower it (pyramid-selling rules).
CHANNELS_COMMISSION_MAX_DEPTH = env.int("CHANNELS_COMMISSION_MAX_DEPTH", default=3)
# The schema and its docs page are public reading (no signature needed to read the reference).
SPECTACULAR_SETTINGS["SERVE_AUTHENTICATION"] = []

# --- Risk control, accounts and hardening (riskcontrol; docs/riskcontrol.md) ----------------------
from datetime import timedelta  # noqa: E402

from csp.constants import NONCE  # noqa: E402

INSTALLED_APPS += ["axes", "django_otp", "django_otp.plugins.otp_totp", "captcha", "csp"]
_AUTH_MW = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
MIDDLEWARE[_AUTH_MW + 1 : _AUTH_MW + 1] = ["django_otp.middleware.OTPMiddleware", "riskcontrol.middleware.OTPRequiredMiddleware"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "riskcontrol.middleware.CSPMiddleware")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last: turns a locked-out login into the lockout page
MIDDLEWARE.append("riskcontrol.middleware.RiskLoginRefusedMiddleware")  # a login risk control blocked: its 403 page

# Login lockout (django-axes): a user name, or an address, is locked after AXES_FAILURE_LIMIT failures.
# Risk rules for logins (riskcontrol.auth.RiskLoginBackend): after the lockout, before any password is checked.
AUTHENTICATION_BACKENDS = [
    "riskcontrol.auth.AxesLoginBackend",
    "riskcontrol.auth.RiskLoginBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True  # only the user name's own failures (riskcontrol.auth.LoginAttemptsHandler)
AXES_HANDLER = "riskcontrol.auth.LoginAttemptsHandler"  # the database handler: lockouts survive a Redis flush
AXES_LOCKOUT_CALLABLE = "riskcontrol.views.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "voucherhub.core.net.client_ip"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False

# Two-factor (django-otp, TOTP): users of these roles must enter a TOTP code after their password.
OTP_REQUIRED_FOR_ROLES = env.list("OTP_REQUIRED_FOR_ROLES", default=[])
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="VoucherHub")

# Content-Security-Policy (django-csp 4): only our own origin. /admin/ (Alpine.js) and the API docs
# get the relaxations they need, scoped to their paths (riskcontrol.middleware.CSPMiddleware).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # A nonce only where a page asks for one (a storefront's own colours); never 'unsafe-inline'.
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
CSP_RELAXED_PATHS = {
    "/admin/": {"script-src": ["'self'", "'unsafe-eval'", "'unsafe-inline'"], "style-src": ["'self'", "'unsafe-inline'"]},
    "/api/docs/": {"script-src": ["'self'", "'unsafe-inline'"], "style-src": ["'self'", "'unsafe-inline'"]},
}

# Challenges (django-simple-captcha, bundled font, no outside service).
CAPTCHA_LENGTH = 5
CAPTCHA_TIMEOUT = 5  # minutes
CAPTCHA_FONT_SIZE = 28
# Challenges one address may ask for per minute (POST /api/v1/risk/challenge/, GET /risk/challenge/); past it
# the address waits a minute (429, Retry-After). 0: no limit. Behind a proxy set CLIENT_IP_HEADER, or every
# visitor shares the proxy's address.
RISK_CHALLENGES_PER_MINUTE = env.int("RISK_CHALLENGES_PER_MINUTE", default=20)

# Rules snapshot freshness, and the audit chain (see voucherhub/core/audit.py).
RISK_RULES_RECHECK_SECONDS = env.float("RISK_RULES_RECHECK_SECONDS", default=1.0)
AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="")
AUDIT_SEAL_INTERVAL_SECONDS = env.int("AUDIT_SEAL_INTERVAL_SECONDS", default=5)

SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- Redemption ----------------------------------------------------------------
# The public address of the site, for links in messages (the holder's private page, unsubscribe).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
REDEMPTION_REVERSAL_WINDOW_HOURS = env.int("REDEMPTION_REVERSAL_WINDOW_HOURS", default=24)
REDEMPTION_REMINDER_DAYS = env.list("REDEMPTION_REMINDER_DAYS", cast=int, default=[7, 1])
REDEMPTION_QR_MAX_AGE = env.int("REDEMPTION_QR_MAX_AGE", default=30 * 60)
REDEMPTION_SMS_BACKEND = env.str("REDEMPTION_SMS_BACKEND", default="redemption.notify.ConsoleSmsBackend")
# redemption.notify.HttpSmsBackend: the SMS gateway's address and bearer token (production).
REDEMPTION_SMS_URL = env.str("REDEMPTION_SMS_URL", default="")
REDEMPTION_SMS_TOKEN = env.str("REDEMPTION_SMS_TOKEN", default="")
REDEMPTION_TERMINAL_CACHE_SECONDS = env.float("REDEMPTION_TERMINAL_CACHE_SECONDS", default=10)

# --- API performance (docs/performance.md) ----------------------------------------
# Redis: one redis-py client per pool, not one per cache call (voucherhub/core/cache.py).
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "voucherhub.core.cache.ReusedClientRedisCache"
# The signed API (/api/v1/) runs through its own short middleware chain (voucherhub/core/apihandler.py):
# no sessions, CSRF, login, OTP, messages, htmx or axes there; the same security headers as the pages.
API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "riskcontrol.middleware.CSPMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
MIDDLEWARE.insert(0, "voucherhub.core.apihandler.ApiStackMiddleware")
