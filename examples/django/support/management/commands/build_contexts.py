"""``manage.py build_contexts``: build the AI context of every turn of the chosen conversations.

A turn is a customer message; the turns of the fixture conversations (the ``id`` of each
``fixtures/*.json`` of the ctxbench repository, or ``--conversation``) are built in order, each
marked for ``ctxbench record`` with the label ``<conversation id>/<message id>`` and its prompt
logged (``ctxbench_record``; both inert outside a recording).

    python3 manage.py build_contexts --version before
    CONTEXT_VERSION=after python3 manage.py build_contexts --conversation fa-shop-1
    python3 manage.py build_contexts --version before --sqlcommenter   # statements tagged (support/sqlcommenter.py)
"""

import contextlib
import json
import os
import sys
from pathlib import Path

from django.core.exceptions import FieldError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from support.contexts import VERSIONS, build_context
from support.models import Conversation, Message
from support.prompt import render_prompt
from support.sqlcommenter import tag_queries

EXAMPLE_DIR = Path(__file__).resolve().parents[3]
REPO_ROOT = EXAMPLE_DIR.parents[1]
sys.path.insert(0, str(REPO_ROOT / "helpers" / "python"))

import ctxbench_record  # noqa: E402


def fixture_conversation_ids(directory):
    """The ``id`` of every ``*.json`` in ``directory``, by file name."""
    files = sorted(Path(directory).glob("*.json"))
    if not files:
        raise CommandError("--fixtures: no *.json files in %s" % directory, returncode=2)
    ids = []
    for file in files:
        try:
            with open(file, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as error:
            raise CommandError("%s: not readable JSON: %s" % (file, error), returncode=2)
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            raise CommandError("%s: id: expected the conversation id (a non-empty string)" % file, returncode=2)
        ids.append(data["id"])
    return ids


def list_turns(conversation_ids):
    """(conversation id, message id) of every customer message, conversations in the order
    given, each oldest first (created_at, then id in byte order)."""
    known = set(Conversation.objects.filter(id__in=conversation_ids).values_list("id", flat=True))
    rows = list(
        Message.objects.filter(conversation_id__in=conversation_ids, type="customer").values_list(
            "conversation_id", "id", "created_at"
        )
    )
    with_turns = set(r[0] for r in rows)
    problems = ['--conversation: no conversation "%s" in this database' % c for c in conversation_ids if c not in known]
    problems += [
        '--conversation: conversation "%s" has no customer messages to replay' % c
        for c in conversation_ids
        if c in known and c not in with_turns
    ]
    if problems:
        raise CommandError("; ".join(problems), returncode=2)
    position = {c: i for i, c in enumerate(conversation_ids)}
    rows.sort(key=lambda r: (position[r[0]], r[2], r[1].encode("utf-8")))
    return [(r[0], r[1]) for r in rows]


class Command(BaseCommand):
    help = "Build the AI context (prompt) of every customer turn of the chosen conversations."


    def add_arguments(self, parser):
        # Django gives every command --version (its own version); here it picks the context version.
        # argparse checks conflicts in the group an option lands in, so both are told to resolve.
        for container in (parser, parser._optionals):
            container.conflict_handler = "resolve"
        parser.add_argument(
            "--version",
            dest="context_version",
            default=os.environ.get("CONTEXT_VERSION") or None,
            help="how to fetch the context: before, after, wrong (after minus one history message) or "
            "seed (the report's change 1 as written, which fails); default: $CONTEXT_VERSION",
        )
        parser.add_argument(
            "--conversation",
            action="append",
            default=[],
            metavar="ID[,ID...]",
            help="a conversation to replay (repeatable); default: those of the fixtures",
        )
        parser.add_argument(
            "--fixtures",
            default=str(REPO_ROOT / "fixtures"),
            help="directory whose *.json conversation fixtures name the default conversations",
        )
        parser.add_argument("--print", action="store_true", dest="print_prompts", help="also print each prompt on stdout")
        parser.add_argument(
            "--sqlcommenter",
            action="store_true",
            help="tag each turn's statements with sqlcommenter comments (controller, action = the context section)",
        )

    def handle(self, *args, **options):
        version = options["context_version"]
        if version is None:
            raise CommandError("choose the context version: --version %s (or CONTEXT_VERSION)" % "|".join(VERSIONS), returncode=2)
        if version not in VERSIONS:
            raise CommandError("--version/CONTEXT_VERSION: %r is not one of %s" % (version, ", ".join(VERSIONS)), returncode=2)
        ids = [c.strip() for arg in options["conversation"] for c in arg.split(",") if c.strip()]
        if not ids:
            ids = fixture_conversation_ids(options["fixtures"])
        try:
            turns = list_turns(ids)
            for conversation_id, message_id in turns:
                label = "%s/%s" % (conversation_id, message_id)
                with ctxbench_record.turn(connection, label) as turn:
                    # Inside the turn: the marker itself must stay untagged for ctxbench to read it.
                    tagging = tag_queries("build_contexts") if options["sqlcommenter"] else contextlib.nullcontext()
                    try:
                        with tagging:
                            context = build_context(message_id, version)
                    except FieldError as error:
                        raise CommandError(
                            "version %s, turn %s: Django refuses the query: FieldError: %s" % (version, label, error),
                            returncode=1,
                        )
                    prompt = render_prompt(context)
                    turn.log_prompt(prompt)
                if options["print_prompts"]:
                    self.stdout.write("### turn %s\n%s" % (label, prompt))
        except DatabaseError as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise CommandError("database: %s" % first_line, returncode=3)
        self.stderr.write("build_contexts: %d turns built, version %s" % (len(turns), version))
