/**
 * Errors a strategy lets escape its own promise — a rejection it never awaited, an exception
 * thrown from a timer callback — would otherwise crash the process with a stack trace and the
 * transpiled source. While a turn is built they are caught and belong to that turn.
 */

/** An error that escaped the build, and how it escaped. */
export interface StrayError {
  error: unknown;
  /** How it escaped, with what to change. */
  how: string;
}

/**
 * Runs `build`, catching what escapes it until it settles and one turn of the event loop
 * after (when Node reports a rejection nobody handled). Only the first stray error is kept.
 *
 * @example
 * const { value, stray } = await catchStrayErrors(() => strategy.build(db, turn));
 * if (stray !== null) throw new StrategyError(`failed: ${String(stray.error)} (${stray.how})`);
 */
export async function catchStrayErrors<T>(build: () => Promise<T>): Promise<{ value: T; stray: StrayError | null }> {
  let stray: StrayError | null = null;
  const onRejection = (error: unknown) => {
    stray ??= { error, how: 'an unhandled promise rejection: await every promise the strategy starts' };
  };
  const onException = (error: unknown) => {
    stray ??= { error, how: 'an uncaught exception, thrown outside the build (in a timer or event callback?)' };
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  try {
    const value = await build();
    // Node reports unhandled rejections after the microtask queue drains: let it, before leaving.
    await new Promise((resolve) => setImmediate(resolve));
    return { value, stray };
  } finally {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  }
}
