/**
 * `npm run demo -- --days 2`, the patient loop, run as a user would: two weekdays of the pipeline on one worker, the
 * bot in the demo's process and simulated patients who link through real deep links and press the real buttons.
 * Scale 1000, the smallest at which the first day has the 1,000 outcomes the model needs, so the first day's
 * scores choose reminders for the second day, whose outcomes and reminder effect the second run builds. The dates
 * are in the past: the reminders end as no-answer once sent (their appointments have started), which the demo says.
 * The demo's worker is killed with SIGKILL once the first day is done (a crash like the ten-day demo's on its eighth
 * day): the demo starts another and finishes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { freshDatabase, uniqueDate } from '../support/env.js';

test('npm run demo -- --days 2 links patients, sends reminders and rating requests, and prints the effect', async () => {
  const date = uniqueDate();
  const databaseUrl = await freshDatabase('hs_demo_loop_test');
  const proc = spawn('npm', ['run', 'demo', '--', '--days', '2', '--date', date, '--scale', '1000'], {
    env: {
      ...process.env,
      TEMPORAL_TASK_QUEUE: `demo-loop-test-${process.pid}`,
      DATABASE_URL: databaseUrl,
      // A bot of its own: two bots polling one token in the emulator would take each other's updates.
      TELEGRAM_BOT_TOKEN: `${randomInt(100_000, 999_999)}:demo-loop-test-${process.pid}`,
      TELEGRAM_LINK_SECRET: `demo-loop-test-link-secret-${'x'.repeat(16)}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let killed: number | undefined;
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const pid = /^worker: pid (\d+), polling/m.exec(out)?.[1];
    if (killed === undefined && pid !== undefined && /^day 1\/2 /m.test(out)) {
      killed = Number(pid);
      process.kill(killed, 'SIGKILL');
    }
  });
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  assert.equal(code, 0, out);

  assert.match(out, /^day 1\/2 \d{4}-\d{2}-\d{2}: \d+ new links; reminders [1-9]\d* sent \+ \d+ held out/m);
  assert.match(out, /^day 2\/2 /m);
  assert.ok(killed !== undefined, `the test found no worker pid to kill:\n${out}`);
  assert.match(out, new RegExp(`^worker: pid ${killed} died \\(SIGKILL\\)`, 'm'));
  assert.match(out, /^The worker died 1 time\(s\) and was started again each time\.$/m);
  const links = Number(/^ {2}links +(\d+) patients linked to the bot \((\d+) by this demo\)$/m.exec(out)?.[1]);
  const sent = /^ +(\d+) sent: (\d+) confirmed, (\d+) cancelled, (\d+) no answer, (\d+) waiting/m.exec(out);
  const rated = /^ {2}rating requests +(\d+) sent: (\d+) rated/m.exec(out);
  assert.ok(links > 300, out);
  // Past appointments: every reminder ends as no-answer and the presses on them are refused as expired.
  assert.ok(sent && Number(sent[1]) > 0 && Number(sent[4]) === Number(sent[1]), out);
  assert.match(out, /reminder presses were refused as expired/);
  assert.ok(rated && Number(rated[1]) > 0 && Number(rated[2]) > 0, out);
  assert.match(out, /^ {2}all +\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2} +[1-9]\d* +\d+ +\d+/m);

  // What it printed is what the warehouse holds.
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const contacts = await db.query<{ n: string }>('select count(*) as n from raw.patient_contacts');
    assert.equal(Number(contacts.rows[0]?.n), links);
    const ratings = await db.query<{ n: string }>(
      `select count(*) as n from raw.rating_requests where status = 'rated'`,
    );
    assert.equal(Number(ratings.rows[0]?.n), Number(rated?.[2]));
    const effect = await db.query<{ reminded: number }>(
      `select reminded from marts.reminder_effect where period = 'all'`,
    );
    assert.ok(Number(effect.rows[0]?.reminded) > 0);
  } finally {
    await db.end();
  }
});
