// Preloaded (`node -r`) into a measured ctxbench process: at exit it writes the whole process's
// peak RSS and CPU time to the file CTXBENCH_BENCH_USAGE_FILE names, with the largest memory
// held outside the JavaScript heap (sampled every 100 ms: WASM memory, ArrayBuffers). The
// benchmark reads it after the process ended; nothing else in the process changes.
const { writeFileSync } = require('node:fs');
const file = process.env.CTXBENCH_BENCH_USAGE_FILE;
if (file) {
  const peak = { heapUsed: 0, external: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    for (const key of Object.keys(peak)) peak[key] = Math.max(peak[key], m[key]);
  };
  setInterval(sample, 100).unref();
  process.on('exit', () => {
    sample();
    const u = process.resourceUsage();
    writeFileSync(
      file,
      JSON.stringify({ maxRssKiB: u.maxRSS, userUs: u.userCPUTime, systemUs: u.systemCPUTime, peakBytes: peak }),
    );
  });
}
