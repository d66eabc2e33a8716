"""Tests of ctxbench_record (stdlib unittest, no database server: sqlite3 and a fake DB-API)."""

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ctxbench_record as ctx  # noqa: E402


class FakeCursor(object):
    def __init__(self, log):
        self.log = log

    def execute(self, sql, params=None):
        self.log.append(("execute", sql, params))

    def fetchall(self):
        self.log.append(("fetchall",))
        return [("x",)]

    def close(self):
        self.log.append(("close",))


class FakeConnection(object):
    def __init__(self):
        self.log = []

    def cursor(self):
        self.log.append(("cursor",))
        return FakeCursor(self.log)


def env(**values):
    """The environment with only the given ctxbench variables set."""
    clean = {k: v for k, v in os.environ.items() if k not in (ctx.RECORDING_ENV, ctx.PROMPT_LOG_ENV)}
    clean.update(values)
    return mock.patch.dict(os.environ, clean, clear=True)


class MarkTurnTest(unittest.TestCase):
    def test_sends_the_marker_with_quotes_doubled_and_consumes_it(self):
        conn = FakeConnection()
        with env(CTXBENCH_RECORDING="1"):
            self.assertTrue(ctx.mark_turn(conn, "c1/it's 50%"))
        self.assertEqual(
            conn.log,
            [("cursor",), ("execute", "SELECT 'ctxbench:turn c1/it''s 50%'", None), ("fetchall",), ("close",)],
        )

    def test_accepts_a_cursor(self):
        log = []
        with env(CTXBENCH_RECORDING="1"):
            ctx.mark_turn(FakeCursor(log), "a")
        self.assertEqual(log, [("execute", "SELECT 'ctxbench:turn a'", None), ("fetchall",)])

    def test_runs_on_a_real_dbapi_connection(self):
        conn = sqlite3.connect(":memory:")
        with env(CTXBENCH_RECORDING="1"):
            self.assertTrue(ctx.mark_turn(conn, "o'clock"))
            with ctx.turn(conn.cursor(), "b") as t:
                self.assertEqual(t.label, "b")
        self.assertEqual(conn.execute(ctx.marker_sql("o'clock")).fetchall(), [("ctxbench:turn o'clock",)])

    def test_does_nothing_outside_a_recording(self):
        for value in (None, ""):
            conn = FakeConnection()
            with env() if value is None else env(CTXBENCH_RECORDING=value):
                self.assertFalse(ctx.mark_turn(conn, "a"))
                with ctx.turn(conn, "b") as t:
                    self.assertFalse(t.log_prompt("p"))
            self.assertEqual(conn.log, [])

    def test_rejects_labels_the_recorder_would_not_read_back(self):
        conn = FakeConnection()
        with env(CTXBENCH_RECORDING="1"):
            for label in ("", "a\x00b", "a\nb", "a\rb", " a", "a "):
                with self.assertRaises(ValueError, msg=repr(label)):
                    ctx.mark_turn(conn, label)
            with self.assertRaises(TypeError):
                ctx.mark_turn(conn, 7)
        self.assertEqual(conn.log, [])


class LogPromptTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "prompts.jsonl")

    def tearDown(self):
        self.dir.cleanup()

    def lines(self):
        with open(self.path, encoding="utf-8") as f:
            return f.read().split("\n")

    def test_appends_one_json_line_per_call_in_utf8(self):
        with env(CTXBENCH_RECORDING="1", CTXBENCH_PROMPT_LOG=self.path):
            self.assertTrue(ctx.log_prompt("c/1", "سلام\nworld"))
            self.assertTrue(ctx.log_prompt("c/2", {"sections": [1, None]}))
        with open(self.path, "rb") as f:
            raw = f.read()
        self.assertEqual(
            raw.decode("utf-8"),
            '{"turn": "c/1", "prompt": "سلام\\nworld"}\n{"turn": "c/2", "prompt": {"sections": [1, null]}}\n',
        )

    def test_appends_to_an_existing_file(self):
        with open(self.path, "w", encoding="utf-8") as f:
            f.write('{"turn": "old", "prompt": ""}\n')
        with env(CTXBENCH_RECORDING="1", CTXBENCH_PROMPT_LOG=self.path):
            with ctx.turn(FakeConnection(), "new") as t:
                t.log_prompt("p")
        self.assertEqual([json.loads(l)["turn"] for l in self.lines() if l], ["old", "new"])

    def test_writes_nothing_outside_a_recording_or_without_a_log(self):
        with env(CTXBENCH_PROMPT_LOG=self.path):
            self.assertFalse(ctx.log_prompt("a", "p"))
        with env(CTXBENCH_RECORDING="", CTXBENCH_PROMPT_LOG=self.path):
            self.assertFalse(ctx.log_prompt("a", "p"))
        with env(CTXBENCH_RECORDING="1"):
            self.assertFalse(ctx.log_prompt("a", "p"))
        self.assertFalse(os.path.exists(self.path))

    def test_rejects_what_is_not_json_without_writing(self):
        with env(CTXBENCH_RECORDING="1", CTXBENCH_PROMPT_LOG=self.path):
            for prompt in (float("nan"), object(), "\ud800"):
                with self.assertRaises(ValueError):
                    ctx.log_prompt("a", prompt)
            with self.assertRaises(ValueError):
                ctx.log_prompt("a\nb", "p")
        self.assertFalse(os.path.exists(self.path))

    def test_processes_appending_at_once_never_interleave_lines(self):
        writer = (
            "import sys; sys.path.insert(0, %r)\n"
            "import ctxbench_record as ctx\n"
            "for i in range(200): ctx.log_prompt(sys.argv[1] + '/' + str(i), sys.argv[1] * 5000)\n"
        ) % os.path.dirname(os.path.abspath(ctx.__file__))
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", writer, name],
                env=dict(os.environ, CTXBENCH_RECORDING="1", CTXBENCH_PROMPT_LOG=self.path),
            )
            for name in ("a", "b", "c", "d")
        ]
        self.assertEqual([p.wait() for p in procs], [0, 0, 0, 0])
        lines = self.lines()
        self.assertEqual(lines[-1], "")
        entries = [json.loads(line) for line in lines[:-1]]
        self.assertEqual(len(entries), 800)
        for entry in entries:
            self.assertEqual(entry["prompt"], entry["turn"][0] * 5000)
        self.assertEqual(sorted(e["turn"] for e in entries), sorted("%s/%d" % (n, i) for n in "abcd" for i in range(200)))


if __name__ == "__main__":
    unittest.main()
