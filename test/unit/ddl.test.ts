/**
 * DDL derived from the entity definitions: type mapping per dialect, nullability, ledgers, and the
 * small helpers (canonical ledger form, dates) that reach SQL text.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  canonicalObjects,
  columnList,
  createRawTableSql,
  dateLiteral,
  deleteLedgerOfExpiredSql,
  ensureRawTablesSql,
  expiredPredicate,
  hasLoadLedger,
  RETENTION_TABLES,
  retentionColumnList,
  retentionOrderBy,
  retentionTableName,
  sqlType,
  stringLiteral,
} from '../../src/activities/warehouse/ddl.js';
import { csvColumns, ENTITY_NAMES, type Column } from '../../src/domain/entities.js';

const col = (type: Column['type'], extra: Partial<Column> = {}): Column => ({
  name: 'c',
  type,
  description: '',
  ...extra,
});

describe('warehouse DDL', () => {
  test('maps every column type to each dialect', () => {
    const expected: [Column['type'], string, string][] = [
      ['id', 'bigint', 'bigint'],
      ['integer', 'integer', 'integer'],
      ['smallint', 'smallint', 'smallint'],
      ['text', 'text', 'varchar(256)'],
      ['date', 'date', 'date'],
      ['timestamp', 'timestamp', 'timestamp'],
      ['time', 'time', 'time'],
      ['boolean', 'boolean', 'boolean'],
      ['money', 'numeric(12,2)', 'decimal(12,2)'],
    ];
    for (const [type, pg, rs] of expected) {
      assert.equal(sqlType(col(type), 'postgres'), pg, type);
      assert.equal(sqlType(col(type), 'redshift'), rs, type);
    }
    assert.equal(sqlType(col('text', { maxLength: 64 }), 'redshift'), 'varchar(256)');
    assert.equal(sqlType(col('text', { maxLength: 1 }), 'redshift'), 'varchar(4)');
    assert.equal(sqlType(col('text', { maxLength: 100_000 }), 'redshift'), 'varchar(65535)');
  });

  test('feedback table in both dialects: NOT NULL except the nullable comment', () => {
    assert.equal(
      createRawTableSql('feedback', 'postgres'),
      'CREATE TABLE IF NOT EXISTS raw.feedback (\n' +
        '  feedback_id bigint NOT NULL,\n  appointment_id bigint NOT NULL,\n  patient_id bigint NOT NULL,\n' +
        '  doctor_id bigint NOT NULL,\n  rating smallint NOT NULL,\n  comment text,\n' +
        '  submitted_at timestamp NOT NULL,\n  batch_date date NOT NULL\n)',
    );
    assert.equal(
      createRawTableSql('feedback', 'redshift'),
      'CREATE TABLE IF NOT EXISTS raw.feedback (\n' +
        '  feedback_id bigint NOT NULL,\n  appointment_id bigint NOT NULL,\n  patient_id bigint NOT NULL,\n' +
        '  doctor_id bigint NOT NULL,\n  rating smallint NOT NULL,\n  comment varchar(4096),\n' +
        '  submitted_at timestamp NOT NULL,\n  batch_date date NOT NULL\n)\nSORTKEY (batch_date)',
    );
  });

  test('every entity gets a table with its CSV columns in order, plus both ledgers', () => {
    for (const dialect of ['postgres', 'redshift'] as const) {
      const stmts = ensureRawTablesSql(dialect);
      assert.equal(stmts[0], 'CREATE SCHEMA IF NOT EXISTS raw');
      for (const entity of ENTITY_NAMES) {
        const ddl = stmts.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS raw.${entity} (`));
        assert.ok(ddl, `${dialect} ${entity}`);
        const names = [...ddl.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]);
        assert.deepEqual(
          names,
          csvColumns(entity).map((c) => c.name),
        );
      }
      const ledger = stmts.find((s) => s.includes('raw._load_ledger'));
      assert.match(ledger ?? '', /PRIMARY KEY \(entity, batch_date\)/);
      assert.match(stmts.find((s) => s.includes('raw._cleanup_ledger')) ?? '', /PRIMARY KEY \(run_date, table_name\)/);
      assert.equal(
        stmts.some((s) => s.includes('CREATE INDEX')),
        dialect === 'postgres',
      );
    }
  });

  test("retention covers the patient loop's tables: by the appointment's day, whole rows, no load ledger", () => {
    assert.deepEqual(Object.keys(RETENTION_TABLES).sort(), [
      'appointments',
      'feedback',
      'patients',
      'rating_requests',
      'records',
      'reminder_events',
      'schedule',
    ]);
    assert.equal(expiredPredicate('rating_requests', '2026-01-01'), "appointment_day < '2026-01-01'::date");
    assert.equal(expiredPredicate('reminder_events', '2026-01-01'), "appointment_on < '2026-01-01'::date");
    assert.equal(retentionTableName('reminder_events'), 'raw.reminder_events');
    assert.equal(
      retentionColumnList('rating_requests'),
      'appointment_id, patient_id, appointment_day, status, rating, comment, answered_at, recorded_at',
    );
    assert.equal(
      retentionColumnList('reminder_events'),
      'appointment_id, patient_id, decided_on, appointment_on, probability, arm, event, at',
    );
    assert.equal(retentionColumnList('records'), columnList('records'));
    // Several events per appointment: the backup is ordered by the whole key, so two exports are the same bytes.
    assert.equal(retentionOrderBy('reminder_events'), 'appointment_id, event');
    assert.equal(retentionOrderBy('feedback'), 'feedback_id');
    assert.deepEqual(
      (Object.keys(RETENTION_TABLES) as (keyof typeof RETENTION_TABLES)[]).filter((t) => !hasLoadLedger(t)),
      ['rating_requests', 'reminder_events'],
    );
    assert.throws(() => deleteLedgerOfExpiredSql('reminder_events', 'true'), /not loaded in batches/);
    for (const dialect of ['postgres', 'redshift'] as const) {
      const events = ensureRawTablesSql(dialect).find((s) =>
        s.startsWith('CREATE TABLE IF NOT EXISTS raw.reminder_events'),
      );
      assert.match(events ?? '', /PRIMARY KEY \(appointment_id, event\)/, dialect);
      assert.equal(/CHECK \(event IN/.test(events ?? ''), dialect === 'postgres', dialect);
    }
  });

  test('canonical ledger objects ignore order, rows and bytes', () => {
    const a = { key: 'raw/x/dt=2026-01-01/part-00001.csv', etag: 'b', rows: 5, bytes: 50 };
    const b = { key: 'raw/x/dt=2026-01-01/part-00000.csv', etag: 'a', rows: 7, bytes: 70 };
    assert.equal(canonicalObjects([a, b]), canonicalObjects([b, { ...a, rows: 999, bytes: 1 }]));
    assert.equal(
      canonicalObjects([a, b]),
      '[{"key":"raw/x/dt=2026-01-01/part-00000.csv","etag":"a"},{"key":"raw/x/dt=2026-01-01/part-00001.csv","etag":"b"}]',
    );
    assert.notEqual(canonicalObjects([a, b]), canonicalObjects([a, { ...b, etag: 'changed' }]));
  });

  test('dates and strings reach SQL only validated or escaped', () => {
    assert.equal(expiredPredicate('feedback', '2026-01-01'), "submitted_at < '2026-01-01'::date");
    // A patients batch goes only once no appointment of the same batch is left.
    assert.equal(
      expiredPredicate('patients', '2026-01-01'),
      "batch_date < '2026-01-01'::date AND batch_date NOT IN (SELECT DISTINCT batch_date FROM raw.appointments " +
        "WHERE batch_date < '2026-01-01'::date)",
    );
    assert.equal(
      deleteLedgerOfExpiredSql('records', "report_date < '2026-01-01'::date"),
      "DELETE FROM raw._load_ledger WHERE entity = 'records' AND batch_date IN " +
        "(SELECT DISTINCT batch_date FROM raw.records WHERE report_date < '2026-01-01'::date)",
    );
    assert.throws(() => dateLiteral("2026-01-01'; DROP TABLE raw.x; --"), /YYYY-MM-DD/);
    assert.throws(() => dateLiteral('2026-13-45'), /YYYY-MM-DD/);
    assert.throws(() => dateLiteral('2026-02-31'), /YYYY-MM-DD/);
    assert.equal(stringLiteral("it's", 'postgres'), "'it''s'");
    assert.equal(stringLiteral("a\\b'c", 'redshift'), "'a\\\\b''c'");
  });
});
