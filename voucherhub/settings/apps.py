"""What the domain apps read (money, payments, channels, redemption), mail and SMS, and spreadsheets."""

from import_export.formats import base_formats

from voucherhub.core.text import SafeXLSX

from .base import PRODUCTION, env

DEFAULT_CURRENCY = "CNY"
# The public address of the site, for links in messages (the holder's private page, unsubscribe).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- Settlement ----------------------------------------------------------------------------------------------
# The sandbox payment provider (no real money moves): on for development, off in production unless set
# explicitly, and then `check --deploy` reports an error and staff see a banner (docs/settlement.md).
# Settlement's other settings and their defaults: settlement/conf.py.
PAYMENT_SANDBOX = env.bool("PAYMENT_SANDBOX", default=not PRODUCTION)

# --- Channels ------------------------------------------------------------------------------------------------
# Commission reaches at most 3 levels up; this may only lower it (pyramid-selling rules).
CHANNELS_COMMISSION_MAX_DEPTH = env.int("CHANNELS_COMMISSION_MAX_DEPTH", default=3)

# --- Marketing: the limits of distributors' own campaigns (coupons and group buys on their storefront) ------
MARKETING_DISTRIBUTOR_MAX_DISCOUNT_RATE = env.str("MARKETING_DISTRIBUTOR_MAX_DISCOUNT_RATE", default="0.30")  # of the list price
MARKETING_DISTRIBUTOR_MAX_BUDGET = env.str("MARKETING_DISTRIBUTOR_MAX_BUDGET", default="5000.00")  # CNY per campaign
MARKETING_DISTRIBUTOR_MAX_DAYS = env.int("MARKETING_DISTRIBUTOR_MAX_DAYS", default=31)  # from start to end

# --- Redemption ----------------------------------------------------------------------------------------------
REDEMPTION_REVERSAL_WINDOW_HOURS = env.int("REDEMPTION_REVERSAL_WINDOW_HOURS", default=24)
REDEMPTION_REMINDER_DAYS = env.list("REDEMPTION_REMINDER_DAYS", cast=int, default=[7, 1])
REDEMPTION_QR_MAX_AGE = env.int("REDEMPTION_QR_MAX_AGE", default=30 * 60)
REDEMPTION_SMS_BACKEND = env.str("REDEMPTION_SMS_BACKEND", default="redemption.notify.ConsoleSmsBackend")
# redemption.notify.HttpSmsBackend: the SMS gateway's address and bearer token (production).
REDEMPTION_SMS_URL = env.str("REDEMPTION_SMS_URL", default="")
REDEMPTION_SMS_TOKEN = env.str("REDEMPTION_SMS_TOKEN", default="")
REDEMPTION_TERMINAL_CACHE_SECONDS = env.float("REDEMPTION_TERMINAL_CACHE_SECONDS", default=10)

# --- Marketing ----------------------------------------------------------------------------------------------
# Consumers' SMS sign-in codes: seconds a code is valid (marketing/services/consumers.py has the limits).
MARKETING_OTP_TTL_SECONDS = env.int("MARKETING_OTP_TTL_SECONDS", default=300)

# --- Mail ----------------------------------------------------------------------------------------------------
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

# --- Spreadsheets: django-import-export's formats, with XLSX text made writable (voucherhub/core/text.py) -----
IMPORT_EXPORT_FORMATS = [SafeXLSX if fmt is base_formats.XLSX else fmt for fmt in base_formats.DEFAULT_FORMATS]

# --- Supply (direct top-ups; supply/conf.py has the rest and every default) ---------------------------------
# Where suppliers post their callbacks: the site's public address unless the callbacks come in elsewhere.
SUPPLY_CALLBACK_BASE_URL = env.str("SUPPLY_CALLBACK_BASE_URL", default=SITE_URL)
# Queries of an attempt whose fate is unknown: wait these seconds before each (the last one repeats).
SUPPLY_QUERY_BACKOFF_SECONDS = env.list("SUPPLY_QUERY_BACKOFF_SECONDS", cast=float, default=[2, 5, 15, 30, 60, 120, 300])
SUPPLY_PROCESSING_CHECK_SECONDS = env.float("SUPPLY_PROCESSING_CHECK_SECONDS", default=60)
SUPPLY_SUBMIT_WINDOW_SECONDS = env.float("SUPPLY_SUBMIT_WINDOW_SECONDS", default=120)
SUPPLY_FAILOVER_DELAY_SECONDS = env.float("SUPPLY_FAILOVER_DELAY_SECONDS", default=5)
SUPPLY_SYNC = env.bool("SUPPLY_SYNC", default=False)
