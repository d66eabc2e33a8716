/**
 * The Python code's unittest suites that need no database and no Django: the helper
 * helpers/python/ctxbench_record.py, and the standard-library parts of examples/django. Run with
 * the python3 on PATH; skipped, saying why, when there is none.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const helperDir = fileURLToPath(new URL('../../helpers/python', import.meta.url));
const djangoExampleDir = fileURLToPath(new URL('../../examples/django', import.meta.url));

function python3Missing(): string | null {
  try {
    execFileSync('python3', ['-c', 'import sys; assert sys.version_info >= (3, 8)'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'python3 (3.8+) is not on PATH';
  }
}

const missing = python3Missing();
if (missing) console.log(`skipping the Python helper's unit tests: ${missing}`);

describe.skipIf(missing !== null)('ctxbench_record.py', () => {
  it('passes its unittest suite', () => {
    const r = spawnSync('python3', ['-m', 'unittest', '-v', 'test_ctxbench_record'], {
      cwd: helperDir,
      encoding: 'utf8',
      env: { ...process.env, CTXBENCH_RECORDING: '', CTXBENCH_PROMPT_LOG: '' },
    });
    expect(r.stderr).toMatch(/^Ran 10 tests in /m);
    expect(r.stderr).toMatch(/^OK$/m);
    expect(r.status).toBe(0);
  });
});

describe.skipIf(missing !== null)('examples/django without Django', () => {
  it('parses DATABASE_URL, tokenises, ranks FAQs and renders as specified', () => {
    const r = spawnSync('python3', ['-m', 'unittest', '-v', 'test_stdlib_parts'], { cwd: djangoExampleDir, encoding: 'utf8' });
    expect(r.stderr).toMatch(/^Ran 6 tests in /m);
    expect(r.stderr).toMatch(/^OK$/m);
    expect(r.status).toBe(0);
  });
});
