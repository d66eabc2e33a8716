"""A stand-in for Google's sqlcommenter for Django (the ``google-cloud-sqlcommenter`` package).

Django has no built-in sqlcommenter. Google's package adds a middleware that tags the statements
of each request with the view that sent them; this example has no requests (a management command
builds the contexts), so this module does the same job in a few lines with Django's own hook,
``connection.execute_wrapper``: every statement sent inside ``tag_queries()`` gets the comment
the sqlcommenter spec (https://google.github.io/sqlcommenter/spec/) describes::

    SELECT ... /*action='history',app_name='support',controller='build_contexts',db_driver='django.db.backends.postgresql',framework='django%3A3.2.25'*/

keys sorted, keys and values URL-encoded, values in single quotes (a ``'`` escaped as ``\\'``),
appended to the statement. ``action`` names the section of the context being built: the
``support/contexts.py`` function (``_history`` → ``history``) the statement came from.
``ctxbench record`` reads these tags and lists them with the findings they belong to; they never
change a statement's fingerprint. Use the real package in an application that serves requests.
"""

import contextlib
import sys
from urllib.parse import quote

import django
from django.db import connection

CONTEXTS_MODULE = "support.contexts"


def _encode(text):
    """URL-encode (``quote`` with nothing safe) and escape single quotes, as the spec asks."""
    return quote(str(text), safe="").replace("'", "\\'")


def comment(tags):
    """The sqlcommenter comment for ``tags`` (a dict), keys sorted; '' when there are none.

    >>> comment({"route": "/orders/", "controller": "orders"})
    "/*controller='orders',route='%2Forders%2F'*/"
    """
    if not tags:
        return ""
    pairs = ("%s='%s'" % (_encode(k), _encode(v)) for k, v in sorted(tags.items()))
    return "/*%s*/" % ",".join(pairs)


def with_comment(sql, tags, has_params=False):
    """``sql`` with the comment appended, before a trailing semicolon; unchanged when it already has
    a comment (the spec: never tag a statement twice). With parameters, psycopg2 reads ``%`` as a
    placeholder: the comment's own (URL encoding) are doubled, as Google's package does."""
    if not tags or "/*" in sql:
        return sql
    text = comment(tags).replace("%", "%%") if has_params else comment(tags)
    stripped = sql.rstrip()
    if stripped.endswith(";"):
        return "%s %s;" % (stripped[:-1].rstrip(), text)
    return "%s %s" % (stripped, text)


def _section():
    """The ``support/contexts.py`` function this statement is sent from, without its ``_``; None outside."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == CONTEXTS_MODULE and frame.f_code.co_name != "build_context":
            return frame.f_code.co_name.lstrip("_")
        frame = frame.f_back
    return None


@contextlib.contextmanager
def tag_queries(controller, **tags):
    """Tags every statement sent on Django's default connection inside the block."""
    base = {
        "controller": controller,
        "app_name": "support",
        "framework": "django:%s" % django.get_version(),
        "db_driver": connection.settings_dict["ENGINE"],
    }
    base.update(tags)

    def wrapper(execute, sql, params, many, context):
        statement_tags = dict(base)
        section = _section()
        statement_tags["action"] = section or "turn"
        return execute(with_comment(sql, statement_tags, params is not None), params, many, context)

    with connection.execute_wrapper(wrapper):
        yield
