"""Cookies and HTTPS, logins (passwords, lockout, two-factor, risk rules), Content-Security-Policy,
challenges and the audit chain (riskcontrol; docs/riskcontrol.md, docs/security.md)."""

from datetime import timedelta

from csp.constants import NONCE

from .base import PRODUCTION, env

# --- Cookies, headers, HTTPS ---------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes call them over plain HTTP inside the network
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Logins --------------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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

# --- Content-Security-Policy ---------------------------------------------------------------------------------
# django-csp 4: only our own origin. /admin/ (Alpine.js) and the API docs get the relaxations they need,
# scoped to their paths (riskcontrol.middleware.CSPMiddleware).
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

# --- Challenges (django-simple-captcha, bundled font, no outside service) ------------------------------------
CAPTCHA_LENGTH = 5
CAPTCHA_TIMEOUT = 5  # minutes
CAPTCHA_FONT_SIZE = 28
# Challenges one address may ask for per minute (POST /api/v1/risk/challenge/, GET /risk/challenge/); past it
# the address waits a minute (429, Retry-After). 0: no limit. Behind a proxy set CLIENT_IP_HEADER, or every
# visitor shares the proxy's address.
RISK_CHALLENGES_PER_MINUTE = env.int("RISK_CHALLENGES_PER_MINUTE", default=20)

# --- Risk rules and the audit chain (voucherhub/core/audit.py) -----------------------------------------------
RISK_RULES_RECHECK_SECONDS = env.float("RISK_RULES_RECHECK_SECONDS", default=1.0)
AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="")
AUDIT_SEAL_INTERVAL_SECONDS = env.int("AUDIT_SEAL_INTERVAL_SECONDS", default=5)
