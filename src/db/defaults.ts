/** Defaults of the reference dataset, in a module light enough for `--help` to load. */

/** Default PRNG seed of the reference dataset. */
export const DEFAULT_SEED = 1;
/** Default scale of the embedded database. */
export const DEFAULT_SCALE = 'default';
