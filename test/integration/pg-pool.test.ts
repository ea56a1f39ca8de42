/**
 * The long-running processes' PostgreSQL pools (src/pg-pool.ts) on the real local PostgreSQL: a connection that
 * ends while idle (the server stopped or restarted, here pg_terminate_backend, the same "terminating connection due
 * to administrator command") must not crash the process, and the next query connects again. Before createPool, the
 * contact store's pool had no 'error' listener: `npm run stack:down` under an idle worker killed it.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { CONTACTS_APPLICATION_NAME, createContactStore } from '../../src/bot/contacts.js';
import { testConfig } from '../support/env.js';

test('the contact store outlives its idle connections being terminated, and reconnects', async () => {
  const config = testConfig();
  if (config.warehouse.kind !== 'postgres') throw new Error('unreachable: the test stack is PostgreSQL');
  const contacts = createContactStore(config);
  const admin = new pg.Client({ connectionString: config.warehouse.databaseUrl });
  await admin.connect();
  try {
    await contacts.ensureTable();
    const patientId = randomInt(1, 1_000_000_000) + 9_000_000_000;
    await contacts.link(patientId, String(patientId));
    const terminated = await admin.query<{ n: string }>(
      `select count(*) filter (where pg_terminate_backend(pid)) as n
         from pg_stat_activity where application_name = $1 and datname = current_database()`,
      [CONTACTS_APPLICATION_NAME],
    );
    assert.ok(Number(terminated.rows[0]!.n) >= 1, 'the contact store held an idle connection to terminate');
    // The idle clients' 'error' events arrive now; unheard, Node throws them and this test process dies.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await contacts.byPatient(patientId))?.chatId, String(patientId));
  } finally {
    await admin.end();
    await contacts.close();
  }
});
