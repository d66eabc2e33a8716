"""Settings of the example: one app (``support``) reading the reference schema from DATABASE_URL."""

import os

from contexts_site.database import database_from_url

# Not a secret: this project serves no requests and signs nothing.
SECRET_KEY = "ctxbench-example-not-secret"
DEBUG = False
ALLOWED_HOSTS = []

INSTALLED_APPS = ["support"]

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
