/**
 * marts.no_show_rates on the hand-made fixture (test/support/dbt-fixture.ts) after a full dbt build as of B2, against the real
 * local PostgreSQL: a copy of the built fixture (test/support/dbt-built.ts), checked against numbers computed by hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useBuiltFixture } from '../../../support/dbt-built.js';

describe('marts.no_show_rates', { timeout: 600_000 }, () => {
  const fixture = useBuiltFixture('hs_dbt_noshow');

  test('no-show rates by lead time, age band and SMS reminder computed by hand', async () => {
    // Lead times: A1 7 d, A2 0 d, A3 26 d, A4 5 d, A5 1 d, A6 0 d, A7 51 d. Ages on the day: P1 65, P2 24, P3 10, P4 41.
    const { rows } = fixture();
    const noShow =
      await rows(`select lead_time_bucket, age_band, has_sms_reminder, appointments, no_shows, no_show_rate::text
         from marts.no_show_rates order by lead_time_bucket, age_band, has_sms_reminder`);
    assert.deepEqual(noShow, [
      {
        lead_time_bucket: '00 same day',
        age_band: '18-29',
        has_sms_reminder: false,
        appointments: '1',
        no_shows: '1',
        no_show_rate: '1.0000',
      },
      {
        lead_time_bucket: '00 same day',
        age_band: '30-44',
        has_sms_reminder: false,
        appointments: '1',
        no_shows: '0',
        no_show_rate: '0.0000',
      },
      {
        lead_time_bucket: '01-02 days',
        age_band: '00-12',
        has_sms_reminder: false,
        appointments: '1',
        no_shows: '0',
        no_show_rate: '0.0000',
      },
      {
        lead_time_bucket: '03-07 days',
        age_band: '60-74',
        has_sms_reminder: true,
        appointments: '2',
        no_shows: '0',
        no_show_rate: '0.0000',
      },
      {
        lead_time_bucket: '15-30 days',
        age_band: '18-29',
        has_sms_reminder: true,
        appointments: '1',
        no_shows: '0',
        no_show_rate: '0.0000',
      },
      {
        lead_time_bucket: '31+ days',
        age_band: '00-12',
        has_sms_reminder: true,
        appointments: '1',
        no_shows: '1',
        no_show_rate: '1.0000',
      },
    ]);
  });
});
