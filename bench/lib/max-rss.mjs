/**
 * Preloaded into a measured child (`node --import bench/lib/max-rss.mjs …`): on exit, writes the
 * process's peak resident set size in bytes to the file CTXBENCH_BENCH_MAX_RSS_FILE names.
 * The kernel keeps the peak (getrusage ru_maxrss), so no sampling can miss it.
 */
import { writeFileSync } from 'node:fs';

const file = process.env.CTXBENCH_BENCH_MAX_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS * 1024)));
