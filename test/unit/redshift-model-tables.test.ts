/**
 * The model tables' bulk paths on Redshift, against a mocked Redshift Data API (the one mock we allow) and the real
 * local S3: exportCsv UNLOADs the query to the prefix and returns what it wrote; replaceRows creates the tables,
 * then deletes the key value's rows and COPYs the object in one batch (one transaction).
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import {
  BatchExecuteStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  RedshiftDataClient,
} from '@aws-sdk/client-redshift-data';
import { ApplicationFailure } from '@temporalio/common';
import { mockClient } from 'aws-sdk-client-mock';
import { ObjectStore } from '../../src/activities/storage.js';
import { RedshiftWarehouse } from '../../src/activities/warehouse/redshift.js';
import { ensureModelTablesSql } from '../../src/activities/warehouse/model-tables.js';
import { loadConfig } from '../../src/config.js';
import { uniq } from '../support/env.js';

const ROLE = 'arn:aws:iam::123456789012:role/healthsynth-redshift';
const rs = mockClient(RedshiftDataClient);
const store = ObjectStore.fromConfig(loadConfig().s3);
const prefix = `features/no-show/test-${uniq()}/`;

const warehouse = () =>
  new RedshiftWarehouse({
    client: new RedshiftDataClient({ region: 'eu-west-1' }),
    store,
    target: { database: 'analytics', clusterId: 'hs-cluster', dbUser: 'loader' },
    iamRole: ROLE,
    region: 'eu-west-1',
    sleep: async () => {},
  });

describe('Redshift model tables', () => {
  afterEach(() => rs.reset());
  after(async () => store.deletePrefix(prefix));

  test('exportCsv: exactly one UNLOAD of the query to the prefix, and the objects it wrote', async () => {
    await store.ensureBucket();
    await store.put(`${prefix}part-stale.csv`, 'left from an earlier attempt\n');
    rs.on(ExecuteStatementCommand).callsFake(async () => {
      await store.put(`${prefix}part-000.csv`, 'appointment_id\na1\n', 'text/csv');
      return { Id: 'unload' };
    });
    rs.on(DescribeStatementCommand).resolves({ Id: 'unload', Status: 'FINISHED' });
    const keys = await warehouse().exportCsv("select appointment_id from marts.no_show_features where x = 'y'", prefix);
    assert.deepEqual(keys, [`${prefix}part-000.csv`], 'the earlier attempt’s object is gone');
    assert.deepEqual(
      rs.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input.Sql),
      [
        `UNLOAD ('select appointment_id from marts.no_show_features where x = ''y''') ` +
          `TO 's3://${store.bucket}/${prefix}part-' IAM_ROLE '${ROLE}' FORMAT AS CSV HEADER PARALLEL OFF ALLOWOVERWRITE ` +
          `EXTENSION 'csv' REGION 'eu-west-1'`,
      ],
    );
  });

  test('replaceRows: DELETE of the day and COPY of the object in one batch; ensureModelTables in another', async () => {
    rs.on(BatchExecuteStatementCommand).resolves({ Id: 'batch' });
    rs.on(DescribeStatementCommand).resolves({
      Id: 'batch',
      Status: 'FINISHED',
      SubStatements: [
        { Id: 'batch:1', Status: 'FINISHED', ResultRows: 3 },
        { Id: 'batch:2', Status: 'FINISHED', ResultRows: 120 },
      ],
    });
    const wh = warehouse();
    await wh.ensureModelTables();
    const key = 'scores/no-show/dt=2026-11-20/part-00000.csv';
    const rows = await wh.replaceRows({ table: 'no_show_risk', column: 'scored_on', value: '2026-11-20', key });
    assert.equal(rows, 120);
    const batches = rs.commandCalls(BatchExecuteStatementCommand).map((c) => c.args[0].input.Sqls);
    assert.deepEqual(batches, [
      ensureModelTablesSql(),
      [
        `DELETE FROM marts.no_show_risk WHERE scored_on = '2026-11-20'`,
        'COPY marts.no_show_risk (appointment_id, appointment_day, doctor_id, clinic_id, probability, risk_decile, ' +
          `model_version, scored_on) FROM 's3://${store.bucket}/${key}' IAM_ROLE '${ROLE}' FORMAT AS CSV IGNOREHEADER 1 ` +
          `REGION 'eu-west-1'`,
      ],
    ]);
    assert.ok(ensureModelTablesSql().every((sql) => /^CREATE (SCHEMA|TABLE) IF NOT EXISTS marts\b/.test(sql)));
  });

  test('replaceRows refuses a column the table does not have, before sending anything', async () => {
    await assert.rejects(
      warehouse().replaceRows({ table: 'no_show_risk', column: 'x; drop table y', value: 'v', key: 'k' }),
      (err: unknown) => err instanceof ApplicationFailure && err.type === 'InvalidInput' && err.nonRetryable,
    );
    assert.equal(rs.commandCalls(BatchExecuteStatementCommand).length, 0);
  });
});
