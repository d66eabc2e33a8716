/**
 * `--only LIST --merge`: some sections of an earlier run re-measured, the others kept.
 */

/**
 * Why the earlier results `base` cannot take the sections `only` of this run's `results`:
 * figures measured in another mode, on another machine or another PostgreSQL would not compare.
 * One problem per entry; empty when they can.
 */
export function mergeProblems(base, results, only) {
  const problems = [];
  if (base.version !== results.version) problems.push(`results version ${base.version} (this run writes ${results.version})`);
  if (base.mode !== results.mode) problems.push(`a ${base.mode} run (this one is ${results.mode})`);
  for (const fact of ['cpuModel', 'cores', 'node']) {
    const was = base.machine?.[fact];
    if (was !== results.machine[fact])
      problems.push(`machine.${fact} ${JSON.stringify(was)} (this run: ${JSON.stringify(results.machine[fact])})`);
  }
  const was = base.machine?.postgresServerVersion ?? null;
  const now = results.machine.postgresServerVersion ?? null;
  if (only.some((key) => ['overhead', 'seeding', 'concurrency', 'memory'].includes(key)) && was !== now)
    problems.push(`figures of PostgreSQL ${was ?? '(none)'} (this run: ${now ?? `none, ${results.machine.postgresSkipped}`})`);
  return problems;
}

/**
 * `base` with the sections `only` taken from `results`. The earlier run stays the file's run
 * (command, dates, machine); this one is listed in `updates` with the sections it replaced.
 */
export function mergeResults(base, results, only) {
  const update = {
    command: results.command,
    sections: only,
    startedAt: results.startedAt,
    finishedAt: results.finishedAt,
    durationMs: results.durationMs,
    loadAverageAtStart: results.machine.loadAverageAtStart,
    loadAverageAtEnd: results.machine.loadAverageAtEnd,
  };
  const merged = { ...base, updates: [...(base.updates ?? []), update] };
  for (const key of only) merged[key] = results[key];
  return merged;
}
