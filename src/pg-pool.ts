/**
 * PostgreSQL pools for long-running processes (the worker, the bot, the demo's patient loop).
 *
 * When a pooled connection ends while idle (PostgreSQL stopped or restarted: "terminating connection due to
 * administrator command"), pg emits 'error' on the client and on the pool. Node throws an 'error' event nobody
 * listens to, and the process dies: stopping the local stack under an idle worker killed it. A lost connection is
 * already handled where it matters: pg drops the client from the pool, and the next query connects again (or fails,
 * and Temporal retries the activity). So both events are listened to and dropped here.
 */
import pg from 'pg';

export function createPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', () => {});
  // pg-pool listens on a client only while it is idle; a checked-out one losing its connection emits on itself.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}
