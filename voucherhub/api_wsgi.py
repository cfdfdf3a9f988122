"""The API entry point: `gunicorn -c gunicorn.conf.py voucherhub.api_wsgi` behind a proxy that routes /api/ here.

Plain Django on its own settings module (voucherhub/settings/api_only.py): the site's settings with the API's
URLconf and the site's middleware minus what only a browser session needs. voucherhub.wsgi serves /api/
as well, so running only the site (`make run`) loses nothing but that saving.
"""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voucherhub.settings.api_only")
application = get_wsgi_application()

if settings.ROOT_URLCONF != "voucherhub.api_urls":
    # DJANGO_SETTINGS_MODULE=voucherhub.settings left in the environment would serve the site's whole chain here.
    raise ImproperlyConfigured(
        f"voucherhub.api_wsgi needs the API entry's settings (voucherhub.settings.api_only or a module importing it), "
        f"not {settings.SETTINGS_MODULE}"
    )
