/**
 * Preloaded into a measured child (`node --import bench/lib/max-rss.mjs …`, see runCtxbench in
 * processes.mjs): on exit, writes to the file CTXBENCH_BENCH_USAGE_FILE names a JSON object with
 * the process's peak resident set size in bytes, its CPU time and the largest memory it held
 * outside the JavaScript heap (sampled every 100 ms: WASM memory, ArrayBuffers). Nothing else
 * in the process changes.
 *
 * On Linux the peak is VmHWM from /proc/self/status, the peak of this program's own memory. Not
 * getrusage's maxRSS: Linux carries that across fork and exec, so a child spawned by a large
 * parent (the benchmark itself, 300 MB) would report the parent's size. Elsewhere maxRSS is
 * what there is.
 */
import { readFileSync, writeFileSync } from 'node:fs';

function peakBytes() {
  try {
    const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb !== undefined) return Number(kb) * 1024;
  } catch {
    // No /proc: not Linux.
  }
  return process.resourceUsage().maxRSS * 1024;
}

const usageFile = process.env.CTXBENCH_BENCH_USAGE_FILE;
if (usageFile) {
  const peak = { heapUsed: 0, external: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    for (const key of Object.keys(peak)) peak[key] = Math.max(peak[key], m[key]);
  };
  setInterval(sample, 100).unref();
  process.on('exit', () => {
    sample();
    const u = process.resourceUsage();
    writeFileSync(usageFile, JSON.stringify({ peakRssBytes: peakBytes(), userUs: u.userCPUTime, systemUs: u.systemCPUTime, peakBytes: peak }));
  });
}
