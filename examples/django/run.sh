#!/bin/sh
# The whole example in one go: seed DATABASE_URL with ctxbench's reference dataset, record the
# Django app building every fixture turn's context "before" and "after" the seed's
# optimisation, and compare the two recordings (statements, bytes, and the prompts).
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test examples/django/run.sh
#
# Environment: DATABASE_URL (required; the database is seeded, so use a scratch one),
# SCALE (dataset scale, default tiny), SKIP_SEED=1 (reuse a database seeded before),
# SEED_FORCE=1 (re-seed a database that already has data), PYTHON (a Python with Django and
# psycopg2; default: python3 if it has them, else /usr/bin/python3), OUT (where the recordings
# go, default examples/django/out), AFTER=wrong (record the deliberately wrong "after": one
# history message fewer; compare then exits 1 with the diff under HISTORY). Exit code: compare's
# (0 identical prompts on every turn, 1 a prompt differs).
set -eu

if [ -z "${DATABASE_URL:-}" ]; then
  echo "run.sh: DATABASE_URL is not set: give a scratch PostgreSQL database, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test" >&2
  exit 2
fi
cd "$(dirname "$0")/../.."

if [ -z "${PYTHON:-}" ]; then
  for candidate in python3 /usr/bin/python3; do
    if "$candidate" -c 'import django, psycopg2' 2>/dev/null; then PYTHON=$candidate; break; fi
  done
fi
if [ -z "${PYTHON:-}" ] || ! "$PYTHON" -c 'import django, psycopg2' 2>/dev/null; then
  echo "run.sh: no Python with Django and psycopg2: apt install python3-django python3-psycopg2, or set PYTHON" >&2
  exit 2
fi

OUT=${OUT:-examples/django/out}
mkdir -p "$OUT"

if [ "${SKIP_SEED:-}" != 1 ]; then
  if [ "${SEED_FORCE:-}" = 1 ]; then
    npx ctxbench seed --db "$DATABASE_URL" --scale "${SCALE:-tiny}" --force
  else
    npx ctxbench seed --db "$DATABASE_URL" --scale "${SCALE:-tiny}"
  fi
fi

AFTER=${AFTER:-after}
# record turns the helper on (CTXBENCH_RECORDING, CTXBENCH_PROMPT_LOG); --show-content keeps the
# prompts' text in the recordings (your own program, your own machine), so a difference shows as a diff.
for version in before "$AFTER"; do
  npx ctxbench record --show-content --upstream "$DATABASE_URL" --output "$OUT/$version.json" -- \
    "$PYTHON" examples/django/manage.py build_contexts --version "$version" >/dev/null
done

npx ctxbench compare --before "$OUT/before.json" --after "$OUT/$AFTER.json"
