/**
 * Setup remembered per worker process (CREATE … IF NOT EXISTS of tables that activities then use), and forgotten
 * when a statement finds a table or schema gone: a database emptied or replaced under a running worker (a new, empty
 * cluster on the same port) would otherwise fail every retry of every activity with "relation … does not exist".
 * After the first such failure, Temporal's next attempt runs the setup again.
 */

/** PostgreSQL's undefined_table and invalid_schema_name: a table or schema made earlier is gone. */
const MISSING_OBJECT_CODES = new Set(['42P01', '3F000']);
/** The same on Redshift, whose Data API reports the error text only (RedshiftStatementError.redshiftError). */
const MISSING_OBJECT_TEXT = /\b(relation|schema) "[^"]*" does not exist/;

export function isMissingObject(err: unknown): boolean {
  const e = err as { code?: string; redshiftError?: string } | undefined;
  return MISSING_OBJECT_CODES.has(e?.code ?? '') || MISSING_OBJECT_TEXT.test(e?.redshiftError ?? '');
}

export interface SetupOnce {
  /** Runs the setup the first time (again after a failure or {@link SetupOnce.forget}); later calls wait for it. */
  ready(): Promise<void>;
  forget(): void;
}

export function setupOnce(make: () => Promise<void>): SetupOnce {
  let done: Promise<void> | undefined;
  return {
    ready: () =>
      (done ??= make().catch((err: unknown) => {
        done = undefined;
        throw err;
      })),
    forget: () => void (done = undefined),
  };
}

/** `activities` whose failures with {@link isMissingObject} make `setup` run again at the next call. */
export function forgettingOnMissing<T extends object>(setup: SetupOnce, activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] =
      typeof fn === 'function'
        ? async (...args: unknown[]) => {
            try {
              return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
            } catch (err) {
              if (isMissingObject(err)) setup.forget();
              throw err;
            }
          }
        : fn;
  }
  return wrapped as T;
}
