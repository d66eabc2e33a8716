"""Mark turns and log prompts for ``ctxbench record``, from any Python program.

``ctxbench record -- <command>`` runs a program against a recording PostgreSQL wire proxy and
groups the statements it sends into units of work ("turns"). This single-file helper (Python
3.8+, standard library only; copy it anywhere) lets the program say where each turn starts and
what prompt it built for it:

    import ctxbench_record as ctx
    from django.db import connection  # or a psycopg2 connection, or a cursor

    for message in turns:
        label = f"{message.conversation_id}/{message.id}"
        with ctx.turn(connection, label) as t:  # SELECT 'ctxbench:turn <label>'
            prompt = build_prompt(message)      # the statements of this turn
            t.log_prompt(prompt)                # {"turn": label, "prompt": prompt}

or, without the context manager::

    ctx.mark_turn(connection, label)
    prompt = build_prompt(message)
    ctx.log_prompt(label, prompt)

Outside a recording (``CTXBENCH_RECORDING`` unset or empty) every function returns at once
without touching the database or any file, so the calls can stay in production code.
"""

import contextlib
import json
import os

__all__ = ["mark_turn", "log_prompt", "turn", "recording", "marker_sql", "Turn"]

RECORDING_ENV = "CTXBENCH_RECORDING"
PROMPT_LOG_ENV = "CTXBENCH_PROMPT_LOG"


def recording():
    """True when the program runs under ``ctxbench record`` (``CTXBENCH_RECORDING`` non-empty)."""
    return bool(os.environ.get(RECORDING_ENV))


def _check_label(label):
    if not isinstance(label, str):
        raise TypeError("ctxbench turn label must be a str, not %s" % type(label).__name__)
    if label == "":
        raise ValueError("ctxbench turn label must not be empty")
    if "\x00" in label:
        raise ValueError("ctxbench turn label %r contains a NUL character" % label)
    if "\n" in label or "\r" in label:
        raise ValueError("ctxbench turn label %r contains a line break" % label)
    if label != label.strip():
        # The recorder trims the label it reads from the marker: the prompt log's label would
        # then name no unit.
        raise ValueError("ctxbench turn label %r starts or ends with whitespace" % label)


def marker_sql(label):
    """The marker statement for ``label``: ``SELECT 'ctxbench:turn <label>'``.

    The literal is built here (single quotes doubled), not passed as a parameter, so the marker
    reaches the server as exactly this SQL, which is what the recorder recognises.

    >>> marker_sql("it's")
    "SELECT 'ctxbench:turn it''s'"
    """
    _check_label(label)
    return "SELECT 'ctxbench:turn %s'" % label.replace("'", "''")


def mark_turn(conn_or_cursor, label):
    """Start turn ``label``: send ``SELECT 'ctxbench:turn <label>'`` and consume its result.

    ``conn_or_cursor`` is a DB-API connection (psycopg2, Django's ``connection``) or cursor.
    Every statement sent after it, on any connection, belongs to that turn until the next
    marker. Returns True when the marker was sent, False outside a recording (then nothing is
    sent and the label is not checked).

    Raises ValueError for an empty label, or one with a NUL, a line break, or leading or
    trailing whitespace.

        mark_turn(connection, "conversation-1/message-7")
    """
    if not recording():
        return False
    sql = marker_sql(label)
    if callable(getattr(conn_or_cursor, "cursor", None)):
        cursor = conn_or_cursor.cursor()
        try:
            cursor.execute(sql)
            cursor.fetchall()
        finally:
            cursor.close()
    else:
        conn_or_cursor.execute(sql)
        conn_or_cursor.fetchall()
    return True


def log_prompt(label, prompt):
    """Append ``{"turn": label, "prompt": prompt}`` as one JSON line to ``CTXBENCH_PROMPT_LOG``.

    ``prompt`` is any JSON value (usually the prompt text). ctxbench attaches it to the unit
    labelled ``label``, and ``ctxbench compare`` checks that two recordings' prompts are
    identical. The line is written with a single ``os.write`` on a descriptor opened with
    ``O_APPEND``, so several processes may log to the same file without interleaving lines.

    Returns True when a line was written; False outside a recording, or when the recording
    gave no prompt log (``CTXBENCH_PROMPT_LOG`` unset or empty).

        log_prompt("conversation-1/message-7", prompt)
    """
    if not recording():
        return False
    path = os.environ.get(PROMPT_LOG_ENV)
    if not path:
        return False
    _check_label(label)
    try:
        line = json.dumps({"turn": label, "prompt": prompt}, ensure_ascii=False, allow_nan=False) + "\n"
        data = line.encode("utf-8")
    except (TypeError, ValueError) as error:
        # TypeError: not JSON-serialisable; ValueError: NaN/Infinity, or a lone surrogate.
        raise ValueError("ctxbench prompt of turn %r is not valid JSON text: %s" % (label, error)) from None
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        # A regular file takes the whole line at once; should the OS ever write less, finish it
        # rather than lose the rest.
        while written < len(data):
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)
    return True


class Turn(object):
    """The turn a :func:`turn` block opened: its ``label`` and a ``log_prompt(prompt)`` shortcut."""

    def __init__(self, label):
        self.label = label

    def log_prompt(self, prompt):
        """``log_prompt(self.label, prompt)``."""
        return log_prompt(self.label, prompt)


@contextlib.contextmanager
def turn(conn, label):
    """Mark turn ``label`` on ``conn`` (see :func:`mark_turn`) and yield a :class:`Turn`.

        with turn(connection, "c1/m7") as t:
            t.log_prompt(build_prompt())
    """
    mark_turn(conn, label)
    yield Turn(label)
