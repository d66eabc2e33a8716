// Preloaded (`node -r`) into a measured ctxbench process: at exit it writes the whole process's
// peak RSS and CPU time to the file CTXBENCH_BENCH_USAGE_FILE names. The benchmark reads it
// after the process ended; nothing else in the process changes.
const { writeFileSync } = require('node:fs');
const file = process.env.CTXBENCH_BENCH_USAGE_FILE;
if (file) {
  process.on('exit', () => {
    const u = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ maxRssKiB: u.maxRSS, userUs: u.userCPUTime, systemUs: u.systemCPUTime }));
  });
}
