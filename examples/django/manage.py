#!/usr/bin/env python3
"""Django's command-line utility for the ctxbench example (``python3 manage.py build_contexts ...``)."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contexts_site.settings")
    from contexts_site.database import DatabaseUrlError, database_from_url

    try:
        database_from_url(os.environ.get("DATABASE_URL"))
    except DatabaseUrlError as error:
        print("manage.py: %s" % error, file=sys.stderr)
        sys.exit(2)
    try:
        from django.core.management import execute_from_command_line
    except ImportError:
        print(
            "manage.py: Django is not installed for %s: install python3-django and python3-psycopg2 "
            "(Debian/Ubuntu), or run with the Python that has them" % sys.executable,
            file=sys.stderr,
        )
        sys.exit(2)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
