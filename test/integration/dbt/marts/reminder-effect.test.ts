/**
 * marts.reminder_outcomes and marts.reminder_effect on a copy of the built fixture (test/support/dbt-built.ts),
 * against the real local PostgreSQL and the real dbt binary: B2's batch gets 28 more appointments and the reminder
 * events of 29 selected ones, the day's incremental build runs, and the Mantel-Haenszel estimate is checked against
 * numbers computed by hand; a rerun and a full refresh give the same rows.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createDbtActivities } from '../../../../src/activities/dbt.js';
import { useBuiltFixture } from '../../../support/dbt-built.js';
import { appt, B2, insertReminderEvents, insertRows } from '../../../support/dbt-fixture.js';

/** One risk stratum of the hand-made trial: reminded (sent, took place) and held-out appointments and their no-shows. */
interface Stratum {
  probability: number;
  reminded: number;
  remindedNoShows: number;
  holdout: number;
  holdoutNoShows: number;
}

// Stratum 0.3: reminded 2 no-shows of 10, held out 2 of 5; stratum 0.5: reminded 3 of 8, held out 3 of 4. By hand:
//   R = 2*5/15 + 3*4/12 = 1.6667, S = 2*10/15 + 3*8/12 = 3.3333, RR = R/S = 0.5000
//   Var(ln RR) = ((10*5*4 - 2*2*15)/15^2 + (8*4*6 - 3*3*12)/12^2) / (R*S) = (0.62222 + 0.58333) / 5.5556 = 0.21700
//   95% CI = 0.5 * exp(-/+ 1.96 * 0.46583) = 0.2007 .. 1.2459; prevented = 5 * (1/0.5 - 1) = 5.00,
//   at the bounds 5 * (1/1.2459 - 1) = -0.99 and 5 * (1/0.2007 - 1) = 19.92
// The crude (unstratified) ratio of these counts is 0.5 too, so the second test checks that the strata are used.
const STRATA: Stratum[] = [
  { probability: 0.35, reminded: 10, remindedNoShows: 2, holdout: 5, holdoutNoShows: 2 },
  { probability: 0.55, reminded: 8, remindedNoShows: 3, holdout: 4, holdoutNoShows: 3 },
];
const PATIENTS = ['P1', 'P3', 'P4'];

interface Selected {
  id: string;
  patient: string;
  probability: number;
  arm: 'reminded' | 'holdout';
  events: string[];
  /** The appointment's outcome in B2's batch; undefined: no appointment row (cancelled after the reminder). */
  noShow?: boolean;
}

function trial(): Selected[] {
  const out: Selected[] = [];
  let n = 0;
  const next = (): { id: string; patient: string } => {
    n += 1;
    return { id: `X${String(n).padStart(2, '0')}`, patient: PATIENTS[n % PATIENTS.length] as string };
  };
  for (const s of STRATA) {
    for (let i = 0; i < s.reminded; i += 1) {
      const events = ['selected', 'sent', i % 2 === 0 ? 'confirmed' : 'no-answer'];
      out.push({ ...next(), probability: s.probability, arm: 'reminded', events, noShow: i < s.remindedNoShows });
    }
    for (let i = 0; i < s.holdout; i += 1) {
      out.push({
        ...next(),
        probability: s.probability,
        arm: 'holdout',
        events: ['selected'],
        noShow: i < s.holdoutNoShows,
      });
    }
  }
  // Neither arm compares these: a cancellation (no appointment row) and an undelivered reminder whose patient did not
  // come (counting it as reminded would add a reminded no-show).
  out.push({ ...next(), probability: 0.35, arm: 'reminded', events: ['selected', 'sent', 'cancelled'] });
  out.push({ ...next(), probability: 0.55, arm: 'reminded', events: ['selected', 'undeliverable'], noShow: true });
  return out;
}

const EFFECT_SQL = `select period, period_start::text, period_end::text, strata, reminded, reminded_no_shows, holdout,
       holdout_no_shows, cancelled, round(relative_risk::numeric, 4)::text as relative_risk,
       round(relative_risk_low::numeric, 4)::text as relative_risk_low,
       round(relative_risk_high::numeric, 4)::text as relative_risk_high,
       round(prevented_no_shows::numeric, 2)::text as prevented_no_shows,
       round(prevented_low::numeric, 2)::text as prevented_low, round(prevented_high::numeric, 2)::text as prevented_high
  from marts.reminder_effect order by period desc, period_start`;

describe('marts.reminder_effect', { timeout: 600_000 }, () => {
  const fixture = useBuiltFixture('hs_dbt_reminders');
  const selected = trial();
  const dayBuild = { runDate: B2, scope: 'day' as const, select: 'appointments reminder_outcomes reminder_effect' };

  test('the Mantel-Haenszel relative risk, its 95% interval and the prevented no-shows, computed by hand', async () => {
    const { db, rows, config } = fixture();
    // The fixture's full build holds its three reminders (test/support/dbt-fixture.ts); this trial replaces them.
    assert.deepEqual(
      await rows(`select appointment_id, arm, was_sent, answer, took_place, is_no_show, risk_band::text
         from marts.reminder_outcomes order by appointment_id`),
      [
        {
          appointment_id: 'A4',
          arm: 'reminded',
          was_sent: true,
          answer: 'confirmed',
          took_place: true,
          is_no_show: false,
          risk_band: '0.400000',
        },
        {
          appointment_id: 'A5',
          arm: 'reminded',
          was_sent: true,
          answer: 'no-answer',
          took_place: true,
          is_no_show: false,
          risk_band: '0.300000',
        },
        {
          appointment_id: 'A7',
          arm: 'holdout',
          was_sent: false,
          answer: null,
          took_place: true,
          is_no_show: true,
          risk_band: '0.400000',
        },
      ],
    );
    await db.query('delete from raw.reminder_events');
    const appointments = selected
      .filter((s) => s.noShow !== undefined)
      .map((s) => appt(s.id, s.patient, 'D1', '2026-02-26 10:00:00', B2, false, s.noShow as boolean, B2));
    await insertRows(db, 'appointments', appointments);
    await insertReminderEvents(db, selected);
    const dbt = createDbtActivities({ config });
    const built = await dbt.runDbt(dayBuild);
    assert.equal(built.success, true, JSON.stringify(built));

    const outcomes = await rows(`select arm, risk_band::text, was_sent, answer, took_place, count(*) as n,
           sum(case when is_no_show then 1 else 0 end) as no_shows
      from marts.reminder_outcomes group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5`);
    assert.deepEqual(outcomes, [
      { arm: 'holdout', risk_band: '0.300000', was_sent: false, answer: null, took_place: true, n: '5', no_shows: '2' },
      { arm: 'holdout', risk_band: '0.500000', was_sent: false, answer: null, took_place: true, n: '4', no_shows: '3' },
      {
        arm: 'reminded',
        risk_band: '0.300000',
        was_sent: true,
        answer: 'cancelled',
        took_place: false,
        n: '1',
        no_shows: '0',
      },
      {
        arm: 'reminded',
        risk_band: '0.300000',
        was_sent: true,
        answer: 'confirmed',
        took_place: true,
        n: '5',
        no_shows: '1',
      },
      {
        arm: 'reminded',
        risk_band: '0.300000',
        was_sent: true,
        answer: 'no-answer',
        took_place: true,
        n: '5',
        no_shows: '1',
      },
      {
        arm: 'reminded',
        risk_band: '0.500000',
        was_sent: false,
        answer: 'undeliverable',
        took_place: true,
        n: '1',
        no_shows: '1',
      },
      {
        arm: 'reminded',
        risk_band: '0.500000',
        was_sent: true,
        answer: 'confirmed',
        took_place: true,
        n: '4',
        no_shows: '2',
      },
      {
        arm: 'reminded',
        risk_band: '0.500000',
        was_sent: true,
        answer: 'no-answer',
        took_place: true,
        n: '4',
        no_shows: '1',
      },
    ]);

    const expected = {
      period_start: B2,
      period_end: B2,
      strata: 2,
      reminded: 18,
      reminded_no_shows: 5,
      holdout: 9,
      holdout_no_shows: 5,
      cancelled: 1,
      relative_risk: '0.5000',
      relative_risk_low: '0.2007',
      relative_risk_high: '1.2459',
      prevented_no_shows: '5.00',
      prevented_low: '-0.99',
      prevented_high: '19.92',
    };
    const effect = await rows(EFFECT_SQL);
    // B2 (2026-03-02) is a Monday: its ISO week starts that day, and the week is everything kept.
    assert.deepEqual(effect, [
      { period: 'week', ...expected },
      { period: 'all', ...expected },
    ]);

    // A rerun of the day replaces its rows with the same; a full refresh from raw gives the same table.
    assert.equal((await dbt.runDbt(dayBuild)).success, true);
    assert.deepEqual(await rows(EFFECT_SQL), effect);
    const refreshed = await dbt.runDbt({ runDate: B2, select: 'reminder_outcomes reminder_effect', fullRefresh: true });
    assert.equal(refreshed.success, true, JSON.stringify(refreshed));
    assert.deepEqual(await rows(EFFECT_SQL), effect);
  });

  test('risk is held equal: moving the held-out appointments to another band changes the estimate', async () => {
    const { db, rows, config } = fixture();
    // Band 0.5's held-out appointments move to band 0.3. The crude ratio stays (5/18) / (5/9) = 0.5; the stratified
    // estimate does not, since band 0.5's reminded appointments now have no held-out peers of their risk.
    await db.query(`update raw.reminder_events set probability = 0.35 where arm = 'holdout' and probability = 0.55`);
    const built = await createDbtActivities({ config }).runDbt(dayBuild);
    assert.equal(built.success, true, JSON.stringify(built));
    const [all] = await rows(`select round(relative_risk::numeric, 4)::text as rr, strata from marts.reminder_effect
      where period = 'all'`);
    // Band 0.3: reminded 2/10, held out 5/9 (n 19); band 0.5: reminded 3/8, no holdout (n 8, contributes nothing).
    //   R = 2*9/19 = 0.94737, S = 5*10/19 = 2.63158, RR = 0.3600
    assert.deepEqual(all, { rr: '0.3600', strata: 2 });
  });
});
