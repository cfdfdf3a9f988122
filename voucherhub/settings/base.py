"""Environment, secrets, apps, the middleware chain, URLs, templates, languages, files and logging."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("DJANGO_ENV must be 'development' or 'production'")
PRODUCTION = DJANGO_ENV == "production"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
# Marked POST fields and variables (plaintext codes, passwords) are hidden on error pages also under DEBUG.
DEFAULT_EXCEPTION_REPORTER_FILTER = "voucherhub.core.errorreports.AlwaysSafeExceptionReporterFilter"

# --- Secrets -------------------------------------------------------------------------------------------------
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

# --- Apps ----------------------------------------------------------------------------------------------------
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
    # Ours, in import order (docs/architecture.md): each imports only from those above it.
    "voucherhub.core",
    "catalog",
    "channels",
    "riskcontrol",
    "supply",
    "redemption",
    "marketing",
    "settlement",
    "analytics",
    # Accounts and hardening (riskcontrol; docs/riskcontrol.md).
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "captcha",
    "csp",
]

# --- The middleware chain ------------------------------------------------------------------------------------
# The one list. The API entry (voucherhub/settings/api_only.py) runs this list minus what only a browser
# session needs.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "riskcontrol.middleware.CSPMiddleware",  # Content-Security-Policy, relaxed per path (security.py)
    # Static files with DEBUG off too (`make run`, gunicorn): WhiteNoise, from STATIC_ROOT after collectstatic.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "riskcontrol.middleware.OTPRequiredMiddleware",  # users of OTP_REQUIRED_FOR_ROLES enter a TOTP code
    "django.contrib.messages.middleware.MessageMiddleware",
    "catalog.middleware.AdminSearchCodeGuard",  # a card code in an admin search box: refused, masked in the audit log
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # late: turns a locked-out login into the lockout page
    "riskcontrol.middleware.RiskLoginRefusedMiddleware",  # a login risk control blocked: its 403 page
    "analytics.middleware.StorefrontVisitMiddleware",  # storefront page views per daily visitor hash, no cookie
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

# --- Languages and time --------------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files and uploads --------------------------------------------------------------------------------
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

# --- Pages: Bootstrap from a packaged copy (no CDN), the admin theme -----------------------------------------
BOOTSTRAP5 = {
    "css_url": {"url": "/static/bootstrap/css/bootstrap.min.css"},
    "javascript_url": {"url": "/static/bootstrap/js/bootstrap.bundle.min.js"},
}
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
    # The sidebar by ops' tasks (eight sections), not by Django app; each link only for who may view it.
    "SIDEBAR": {"show_search": True, "show_all_applications": False, "navigation": "voucherhub.core.admin_nav.navigation"},
}

# --- Client address ------------------------------------------------------------------------------------------
# Behind a proxy, the client address comes from this header (set only when the proxy is trusted).
CLIENT_IP_HEADER = env.str("CLIENT_IP_HEADER", default="")
# How many proxies of ours stand in front (each appends one address to a list header): the address is read
# that many entries from the right, never from the client-written left end (voucherhub.core.net.client_ip).
CLIENT_IP_PROXY_COUNT = env.int("CLIENT_IP_PROXY_COUNT", default=1)

# --- Logging -------------------------------------------------------------------------------------------------
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
