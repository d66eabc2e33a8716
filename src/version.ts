import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** ctxbench's own version, from package.json (works from src/ and dist/). */
export const TOOL_VERSION: string = String((require('../package.json') as { version: string }).version);
