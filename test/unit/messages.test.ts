/**
 * The messages themselves: who they are for, what they are called (their delivery record), and that an alert is
 * built from failure types and ids only.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  RetryState,
  TimeoutFailure,
  WorkflowExecutionAlreadyStartedError,
} from '@temporalio/common';
import {
  doctorRatingMessage,
  MESSAGE_NAME,
  pipelineAlertMessage,
  plainText,
  staffSummaryText,
  weekendNoticeMessage,
} from '../../src/domain/messages.js';
import type { PipelineSummary } from '../../src/domain/types.js';
import { describeError, failureOf } from '../../src/workflows/format.js';

const csvError = () =>
  ApplicationFailure.create({
    message:
      'raw/patients/dt=2016-03-01/part-00000.csv line 2 (column birth_date): invalid input syntax for type date: "Ana Souza"',
    type: 'CsvLoadError',
    nonRetryable: true,
  });

describe('failureOf', () => {
  test('walks child → activity → application failure and keeps only ids and the type', () => {
    const activity = new ActivityFailure(
      'Activity task failed',
      'loadBatch',
      '7',
      RetryState.NON_RETRYABLE_FAILURE,
      'w',
      csvError(),
    );
    const child = new ChildWorkflowFailure(
      'default',
      { workflowId: 'ingest-patients-2016-03-01', runId: 'r1' },
      'ingestEntity',
      RetryState.NON_RETRYABLE_FAILURE,
      activity,
    );
    assert.deepEqual(failureOf(child), { type: 'CsvLoadError', where: ['ingest-patients-2016-03-01', 'loadBatch'] });
    // The workflow's own failure keeps the text (operators read it in Temporal); the alert's part does not.
    assert.match(describeError(child), /CsvLoadError: .*"Ana Souza"/);
    assert.ok(!JSON.stringify(failureOf(child)).includes('Ana Souza'));
  });

  test('a child already running for another run of the date says which, and how to start runs', () => {
    const err = new WorkflowExecutionAlreadyStartedError(
      'Workflow execution already started',
      'predict-no-shows-2026-12-03',
      'predictNoShows',
    );
    const text = describeError(err);
    assert.match(text, /^predict-no-shows-2026-12-03 is running for another run of this date/);
    assert.match(text, /--workflow-id daily-pipeline-<date>/);
  });

  test('names timeouts by kind, and plain errors by class', () => {
    const timeout = new ActivityFailure(
      'Activity task timed out',
      'runDbt',
      '3',
      RetryState.TIMEOUT,
      'w',
      new TimeoutFailure('timed out', undefined, 'HEARTBEAT'),
    );
    assert.deepEqual(failureOf(timeout), { type: 'Timeout (HEARTBEAT)', where: ['runDbt'] });
    assert.deepEqual(failureOf(new TypeError('x is undefined')), { type: 'TypeError', where: [] });
  });
});

describe('messages', () => {
  test('an alert names the run, run id, steps, types and link, and is keyed per run and step', () => {
    const message = pipelineAlertMessage({
      scope: 'daily-pipeline-2016-03-01',
      workflowId: 'daily-pipeline-2016-03-01',
      runId: '0192-run',
      link: 'http://127.0.0.1:8233/namespaces/default/workflows/daily-pipeline-2016-03-01/0192-run/history',
      failures: [
        { step: 'report', type: 'NoRatingData', where: ['doctor-rating-report-2016-03-01', 'buildDoctorRatingReport'] },
        { step: 'cleanup', type: 'BackupVerificationFailed', where: ['retention-cleanup-2016-03-01', 'cleanupTable'] },
      ],
    });
    assert.equal(message.audience, 'staff');
    assert.equal(message.name, 'pipeline-failed-0192-run-report+cleanup');
    assert.match(message.name, MESSAGE_NAME);
    assert.equal(
      message.slack.text,
      [
        ':rotating_light: Health Synth run daily-pipeline-2016-03-01 failed at step *report and cleanup*',
        '• report: NoRatingData in doctor-rating-report-2016-03-01 › buildDoctorRatingReport',
        '• cleanup: BackupVerificationFailed in retention-cleanup-2016-03-01 › cleanupTable',
        'Run id: 0192-run',
        'Error details (kept in Temporal, they can quote data): http://127.0.0.1:8233/namespaces/default/workflows/daily-pipeline-2016-03-01/0192-run/history',
      ].join('\n'),
    );
    assert.deepEqual(message.telegram, { text: plainText(message.slack.text) });
    assert.ok(!('text' in message.telegram && message.telegram.text.includes('*')), 'Telegram gets plain text');
  });

  test('the chart is a staff photo by object key; the notice a patients-only text', () => {
    const report = {
      runDate: '2016-03-01',
      reportKey: 'reports/dt=2016-03-01/doctor-rating.png',
      reportUrl: 'https://example.com/chart.png',
      doctorsRanked: 12,
      topDoctor: { name: 'Dr. Ana Souza', score: 91.25 },
    };
    const chart = doctorRatingMessage('doctor-rating-report-2016-03-01', report);
    assert.equal(chart.audience, 'staff');
    assert.deepEqual(chart.telegram, {
      photoKey: report.reportKey,
      caption: 'Doctor rating — 2016-03-01\nTop doctor: Dr. Ana Souza (score 91.3)\nDoctors ranked: 12',
    });
    // Ratings by source, when the report carries them: both totals in the caption and in Slack.
    const bySource = doctorRatingMessage('doctor-rating-report-2016-03-01', {
      ...report,
      ratingsBySource: { survey: 1234, telegram: 56 },
    });
    assert.equal(
      (bySource.telegram as { caption: string }).caption,
      'Doctor rating — 2016-03-01\nTop doctor: Dr. Ana Souza (score 91.3)\nDoctors ranked: 12\nRatings: 1,234 survey · 56 Telegram',
    );
    assert.match(JSON.stringify(bySource.slack.blocks), /\*Ratings:\* 1,234 survey · 56 Telegram/);
    const notice = weekendNoticeMessage('weekend-notice-2016-03-05', '2016-03-05', 'Closed, call', '112');
    assert.deepEqual(notice, {
      audience: 'patients',
      scope: 'weekend-notice-2016-03-05',
      name: 'weekend-notice',
      telegram: { text: 'Closed, call 112. (2016-03-05)' },
    });
    assert.ok(!('slack' in notice), 'a patient message has no Slack part');
  });

  test('the summary lists deliveries that failed or may not have arrived, with the HTTP status', () => {
    const summary: PipelineSummary = {
      runDate: '2016-03-01',
      scale: 'small',
      ingest: [],
      notifications: [],
      report: {
        runDate: '2016-03-01',
        reportKey: 'k',
        reportUrl: 'https://example.com/c.png',
        doctorsRanked: 3,
        notifications: [
          {
            channel: 'slack',
            message: 'doctor-rating',
            status: 'failed',
            httpStatus: 403,
            detail: 'HTTP 403 invalid_token',
          },
          { channel: 'telegram', message: 'doctor-rating', status: 'unknown', detail: 'cut off while sending' },
        ],
      },
    };
    assert.match(
      staffSummaryText(summary),
      /Not delivered: slack doctor-rating: failed \(HTTP 403 invalid_token\); telegram doctor-rating: unknown \(cut off while sending\)/,
    );
    assert.equal(plainText('*a* <https://x.y/z|chart> :rotating_light: b'), 'a chart: https://x.y/z b');
  });
});
