"""VoucherHub settings: a package split by concern, read in this order.

`DJANGO_SETTINGS_MODULE=voucherhub.settings` loads all of them. Everything that differs per machine comes
from the environment (django-environ). `DJANGO_ENV=development` (the default) gives laptop defaults: SQLite
under var/, local-memory cache, throw-away keys. `DJANGO_ENV=production` refuses to start without its own
secrets and turns on every transport-security setting that `manage.py check --deploy` asks for.

    base.py       environment, secrets, INSTALLED_APPS, MIDDLEWARE, URLs, templates, languages, files, logging
    database.py   DATABASES, CACHES
    security.py   cookies, HTTPS, logins (axes, OTP), Content-Security-Policy, challenges, audit chain
    api.py        REST_FRAMEWORK, the OpenAPI schema
    jobs.py       django-q2, long jobs, code imports
    apps.py       what each domain app reads (payments, channels, redemption), mail and SMS, spreadsheets

MIDDLEWARE, INSTALLED_APPS and REST_FRAMEWORK are each defined once, in the module named above; no later
module edits them. `voucherhub/settings/api_only.py` is the API entry's (`voucherhub/api_wsgi.py`): these
settings with its own URLconf and a shorter MIDDLEWARE filtered from this one.
"""

# isort: skip_file
from .base import *  # noqa: F401,F403
from .database import *  # noqa: F401,F403
from .security import *  # noqa: F401,F403
from .api import *  # noqa: F401,F403
from .jobs import *  # noqa: F401,F403
from .apps import *  # noqa: F401,F403
