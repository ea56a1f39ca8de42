/**
 * The PostgreSQL build lock: the session advisory lock runDbt (src/activities/dbt.ts) holds for the whole dbt
 * process, so two builds of one warehouse (a backfill runs pipelines for two dates in parallel) never race on the
 * same relations. It lives beside the warehouse adapters because it is a property of the warehouse: Redshift has no
 * advisory locks, and there dbt runs one at a time by deployment (see the file comment of src/activities/dbt.ts).
 */
import pg from 'pg';

/**
 * The PostgreSQL advisory lock (two-int form, in the `0x4853_xxxx` family the warehouse adapter uses for its own
 * locks) that runDbt holds for the whole dbt process. Advisory locks are per database, so this serializes the
 * builds of one warehouse and leaves other databases (tests, other environments on the same server) independent.
 */
export const DBT_BUILD_LOCK = [0x4853_0003, 0] as const;

/** A held {@link DBT_BUILD_LOCK}; `release` unlocks and closes its connection (never throws). */
export interface BuildLock {
  /** Milliseconds spent waiting for the lock (0 when it was free). */
  waitedMs: number;
  release(): Promise<void>;
}

/**
 * Takes {@link DBT_BUILD_LOCK} on a dedicated connection to `databaseUrl` and keeps that session open until
 * `release`: the lock belongs to the session, so a crashed worker (its connection gone) releases it too.
 * Tries without waiting first; when another build holds it, calls `onWait` and blocks in `pg_advisory_lock`.
 * An abort of `signal` while waiting cancels the waiting statement (pg_cancel_backend from a second connection) and
 * closes the session, so a cancelled activity never takes the lock later, then rethrows the abort reason.
 */
export async function acquireBuildLock(
  databaseUrl: string,
  { signal, onWait }: { signal?: AbortSignal; onWait: () => void },
): Promise<BuildLock> {
  const connection = {
    connectionString: databaseUrl,
    application_name: 'healthsynth-dbt-lock',
    keepAlive: true,
    connectionTimeoutMillis: 15_000,
  };
  const client = new pg.Client(connection);
  // A connection lost while dbt runs must not crash the worker; the build finishes without the lock.
  client.on('error', () => {});
  const close = async (): Promise<void> => {
    await client.end().catch(() => {});
  };
  const started = Date.now();
  try {
    signal?.throwIfAborted();
    await client.connect();
    const [k1, k2] = DBT_BUILD_LOCK;
    const tried = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [k1, k2]);
    if (!tried.rows[0]?.ok) {
      onWait();
      // Wait as long as it takes (the activity's timeouts bound it), whatever the role's defaults say.
      await client.query('set statement_timeout = 0; set lock_timeout = 0');
      // PostgreSQL 14+: notice a vanished client while blocked in the lock wait, not only once the lock is granted.
      await client.query(`set client_connection_check_interval = '5s'`).catch(() => {});
      const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
      const cancelWait = (): void => {
        const canceller = new pg.Client(connection);
        canceller.on('error', () => {});
        void canceller
          .connect()
          .then(() => canceller.query('select pg_cancel_backend($1)', [pid]))
          .catch(() => {})
          .finally(() => {
            void canceller.end().catch(() => {});
            void close();
          });
      };
      signal?.addEventListener('abort', cancelWait, { once: true });
      try {
        await client.query('select pg_advisory_lock($1, $2)', [k1, k2]);
      } finally {
        signal?.removeEventListener('abort', cancelWait);
      }
      if (signal?.aborted) {
        // Granted just as the cancel arrived: give it back at once.
        await close();
        signal.throwIfAborted();
      }
    }
    const waitedMs = Date.now() - started;
    return {
      waitedMs,
      async release() {
        await client.query('select pg_advisory_unlock($1, $2)', [k1, k2]).catch(() => {});
        await close();
      },
    };
  } catch (err) {
    await close();
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}
