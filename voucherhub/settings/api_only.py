"""Settings of the API entry, voucherhub/api_wsgi.py: the site's settings, its own URLconf, a shorter chain.

The proxy routes /api/ here (docs/operations.md). Every /api/v1/ request is signed (voucherhub/core/apisign.py):
no session, no CSRF token, no login, no messages, no htmx. The site's middleware for those only cost time
here (docs/performance.md: 3.91 -> 3.42 ms of CPU per redemption), so this entry runs the site's one
MIDDLEWARE list without them. A middleware added to the site reaches the API too unless it is named below.
"""

# isort: skip_file
from voucherhub.settings import *  # noqa: F401,F403
from voucherhub.settings import MIDDLEWARE as _SITE_MIDDLEWARE

ROOT_URLCONF = "voucherhub.api_urls"
WSGI_APPLICATION = "voucherhub.api_wsgi.application"

# What only a person's browser session needs. Signatures, nonce replay, IP allowlists, risk lockouts,
# idempotency and the audit trail are in the API's views and services, not in middleware.
BROWSER_ONLY_MIDDLEWARE = {
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files: the site (or the proxy) serves /static/
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",  # DRF sets request.user from the signature
    "django_otp.middleware.OTPMiddleware",
    "riskcontrol.middleware.OTPRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "catalog.middleware.AdminSearchCodeGuard",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out password login into the lockout page
    "riskcontrol.middleware.RiskLoginRefusedMiddleware",
    "analytics.middleware.StorefrontVisitMiddleware",  # storefront pages are not on the API
}
MIDDLEWARE = [middleware for middleware in _SITE_MIDDLEWARE if middleware not in BROWSER_ONLY_MIDDLEWARE]
