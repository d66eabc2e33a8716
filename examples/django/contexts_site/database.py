"""Django's DATABASES entry from a ``postgres://`` URL (standard library only, no dj-database-url)."""

from urllib.parse import parse_qsl, unquote, urlsplit

EXAMPLE_URL = "postgres://postgres@127.0.0.1:5432/test"

# Sent in the startup packet, so they cost no statement: UTC sessions (Django then skips its
# SET TIME ZONE) and read-only transactions (building a context must never write).
SESSION_OPTIONS = "-c TimeZone=UTC -c default_transaction_read_only=on"


class DatabaseUrlError(ValueError):
    """A DATABASE_URL that is missing or malformed; the message is one line, without the password."""


def database_from_url(url):
    """The ``DATABASES['default']`` dict for ``url``; raises DatabaseUrlError saying what to fix.

    >>> database_from_url("postgres://app:s3cret@db:5433/shop?sslmode=require")["NAME"]
    'shop'
    """
    if not url:
        raise DatabaseUrlError("DATABASE_URL is not set: give the database to read, e.g. DATABASE_URL=%s" % EXAMPLE_URL)
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise DatabaseUrlError("DATABASE_URL: the scheme must be postgres:// or postgresql://, e.g. %s" % EXAMPLE_URL)
    try:
        port = parts.port
    except ValueError:
        raise DatabaseUrlError("DATABASE_URL: the port is not a number between 0 and 65535") from None
    name = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    if not name:
        raise DatabaseUrlError("DATABASE_URL: no database name (the path, e.g. %s)" % EXAMPLE_URL)
    # libpq keywords in the query string (sslmode, sslrootcert, connect_timeout, host, ...)
    # go to psycopg2 as they are.
    options = dict(parse_qsl(parts.query))
    options["options"] = (options.get("options", "") + " " + SESSION_OPTIONS).strip()
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": unquote(parts.hostname or ""),
        "PORT": "" if port is None else str(port),
        "OPTIONS": options,
        # One connection for the whole command, as a worker keeps it.
        "CONN_MAX_AGE": None,
    }
