import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "foyer.settings.production")

from foyer.request_limits import limit_chunked_bodies  # noqa: E402

application = limit_chunked_bodies(get_wsgi_application())
