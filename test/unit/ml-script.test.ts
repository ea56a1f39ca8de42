/**
 * ml/no_show.py on its own, in the toolchain's virtualenv (`npm run setup` builds it): a training window in which a
 * feature was never observed. On a young warehouse nobody has come back yet, so days_since_last_visit is missing in
 * every row; scikit-learn cannot bin a column with no value, and the first days' pipeline runs failed on it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { FEATURE_COLUMNS } from '../../src/activities/predict.js';
import { ML_SCRIPT, ML_SCRIPT_ENV, mlVenvPython } from '../../src/stack/toolchain.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hs-ml-script-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * `n` first visits: long lead times miss more often; nobody has an earlier visit (days_since_last_visit empty), but
 * for the first `returning` rows, whose patient came back after 3 days.
 */
function firstVisits(n: number, returning = 0): string {
  const rows = Array.from({ length: n }, (_, i) => {
    const lead = i % 30;
    const row: Record<(typeof FEATURE_COLUMNS)[number], string | number> = {
      appointment_id: `a${i}`,
      doctor_id: 'd1',
      clinic_id: 'c1',
      specialty: 'cardiology',
      appointment_on: '2020-01-06',
      is_no_show: (i * 7919) % 100 < 10 + lead ? 't' : 'f',
      lead_time_days: lead,
      weekday: 1,
      patient_age_years: 20 + (i % 60),
      patient_gender: i % 2 ? 'F' : 'M',
      neighbourhood: 'Centro',
      has_scholarship: 'f',
      has_hypertension: 'f',
      has_diabetes: 'f',
      has_alcoholism: 'f',
      handicap_count: 0,
      has_sms_reminder: i % 3 ? 't' : 'f',
      prior_visits: 0,
      prior_no_shows: 0,
      prior_same_day_visits: 0,
      prior_same_day_no_shows: 0,
      days_since_last_visit: i < returning ? 3 : '',
    };
    return FEATURE_COLUMNS.map((c) => row[c]).join(',');
  });
  return [FEATURE_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

test('a feature never observed in the window is left out of the model, which then scores', async () => {
  const features = path.join(dir, 'train.csv');
  await writeFile(features, firstVisits(3000));
  const out = path.join(dir, 'model');
  await execa(mlVenvPython(), [ML_SCRIPT, 'train', '--features', features, '--out', out], { env: ML_SCRIPT_ENV });
  const meta = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8')) as {
    features: string[];
    unobserved: string[];
  };
  assert.deepEqual(meta.unobserved, ['days_since_last_visit']);
  assert.ok(!meta.features.includes('days_since_last_visit'));
  assert.ok(meta.features.includes('lead_time_days') && meta.features.includes('prior_visits'));

  const scores = path.join(dir, 'scores.csv');
  await execa(
    mlVenvPython(),
    [
      ML_SCRIPT,
      'score',
      ...['--model', path.join(out, 'model.skops'), '--meta', path.join(out, 'model.json')],
      ...['--features', features, '--out', scores, '--version', 'test', '--scored-on', '2020-01-03'],
    ],
    { env: ML_SCRIPT_ENV },
  );
  const lines = (await readFile(scores, 'utf8')).trim().split('\n');
  assert.equal(lines.length, 3001);
  const probability = (line: string) => Number(line.split(',')[4]);
  // Long lead times were made to miss more: the model must have learned that from the features it kept.
  const byLead = (lead: number) =>
    lines
      .slice(1)
      .filter((_, i) => i % 30 === lead)
      .map(probability)
      .reduce((a, b) => a + b, 0) / 100;
  assert.ok(byLead(29) > byLead(0) + 0.1, `lead 29: ${byLead(29)}, lead 0: ${byLead(0)}`);
});

test('a feature seen in a handful of rows is left out too: early stopping could hold out every one of them', async () => {
  // 12,000 rows (early stopping on) with days_since_last_visit in 3 of them. scikit-learn 1.9 cannot bin a column
  // with no value in the training part, which is what the validation tenth leaves when it takes all 3.
  const features = path.join(dir, 'train-rare.csv');
  await writeFile(features, firstVisits(12_000, 3));
  const out = path.join(dir, 'model-rare');
  await execa(mlVenvPython(), [ML_SCRIPT, 'train', '--features', features, '--out', out], { env: ML_SCRIPT_ENV });
  const meta = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8')) as { unobserved: string[] };
  assert.deepEqual(meta.unobserved, ['days_since_last_visit']);
});
