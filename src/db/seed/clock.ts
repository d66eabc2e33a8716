/**
 * The fixed clock of the dataset: every timestamp is BASE_TIME_MS plus or minus whole
 * milliseconds drawn from the seed. Nothing reads the real time.
 */

/** 2025-09-01T00:00:00.000Z: "now" for the generated data. */
export const BASE_TIME_MS = Date.UTC(2025, 8, 1);
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Fixture conversations start at 09:00 on the base day, one hour apart, after all generated data. */
export const FIXTURE_START_MS = BASE_TIME_MS + 9 * HOUR;
