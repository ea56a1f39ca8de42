/**
 * Payload encryption on the real dev server: the real weekendNotice workflow runs on a worker from
 * startWorker with TEMPORAL_ENCRYPTION_KEYS set (notifications go to an outbox in a temp data dir).
 * The client with the key reads the result; Temporal itself only ever stores ciphertext (seen through
 * a client without the codec); the codec server (with its bearer token) and the real `temporal` CLI
 * with --codec-endpoint and --codec-auth turn it back into the plaintext result for operators. A
 * workflow started by the plain CLI (unencrypted input) still runs, because decode passes plain
 * payloads through. A failing run's messages and stack traces are ciphertext in Temporal too, and
 * readable again with the key or through the codec server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ActivityFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { startCodecServer, type RunningCodecServer } from '../../src/cli/codec-server.js';
import { ENCRYPTED_ENCODING, EncryptionCodec, encryptionKeyId, METADATA_ENCRYPTION_KEY_ID } from '../../src/codec.js';
import { connectClient } from '../../src/temporal.js';
import type { WeekendNoticeResult } from '../../src/workflows/weekend-notice.js';
import { harness, testConfig, uniq, uniqueWeekendDate, type TestHarness } from '../support/env.js';
import { temporalCliOn } from '../support/temporal-cli.js';
import { unusedWeekendNoticeDate } from '../support/workflow-runs.js';

const str = (b: Uint8Array | null | undefined): string => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const b64 = (b: Uint8Array | null | undefined): string => Buffer.from(b ?? new Uint8Array()).toString('base64');

/** Sends `payload` to the codec server's /decode as the Web UI does: JSON with base64 fields, namespace, bearer token. */
function decodeThroughCodecServer(
  server: RunningCodecServer,
  namespace: string,
  token: string,
  payload: Payload,
): Promise<Response> {
  return fetch(`${server.url}/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': namespace, authorization: `Bearer ${token}` },
    body: JSON.stringify({
      payloads: [
        {
          metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
          data: b64(payload.data),
        },
      ],
    }),
  });
}

describe('payload encryption end to end', () => {
  const key = randomBytes(32);
  // Values that must never appear in Temporal's history in plaintext.
  const noticeText = `Closed-${uniq()} this weekend, call`;
  const phone = `+44 20 ${Math.floor(1000 + Math.random() * 9000)} ${uniq().slice(0, 4)}`;
  let date = '';
  const workflowId = `encryption-test-${uniq()}`;
  const codecToken = randomBytes(24).toString('hex');
  let dataDir = '';
  let h: TestHarness;
  let plainClient: Client;
  let codecServer: RunningCodecServer;
  let result: WeekendNoticeResult;
  let completedResult: Payload;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'hs-encryption-'));
    const config = testConfig({
      TEMPORAL_ENCRYPTION_KEYS: key.toString('base64'),
      CODEC_SERVER_TOKEN: codecToken,
      HEALTHSYNTH_DATA_DIR: dataDir,
      WEEKEND_NOTICE_TEXT: noticeText,
      EMERGENCY_PHONE: phone,
      SLACK_WEBHOOK_URL: '',
      TELEGRAM_BOT_TOKEN: '',
      TELEGRAM_CHAT_ID: '',
    });
    h = await harness(config);
    // A date an earlier file delivered (or cut off) would find its record and skip the outbox this test checks.
    date = await unusedWeekendNoticeDate(h.client, h.store, uniqueWeekendDate);
    plainClient = await connectClient({ ...config, temporal: { ...config.temporal, encryptionKeys: [] } });
    codecServer = await startCodecServer(config, { port: 0 });
    result = (await h.client.workflow.execute('weekendNotice', {
      taskQueue: config.temporal.taskQueue,
      workflowId,
      args: [{ date }],
    })) as WeekendNoticeResult;
  });
  after(async () => {
    await codecServer?.close();
    await plainClient?.connection.close();
    await h?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('the client with the key gets the decoded result', () => {
    assert.equal(result.date, date);
    assert.equal(result.notifications.length, 1, "the patients' Telegram chat only");
    assert.ok(
      result.notifications.every((n) => n.status === 'outbox'),
      'every notification went to the outbox',
    );
  });

  test('a client without the codec sees only binary/encrypted payloads and no plaintext', async () => {
    const history = await plainClient.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    const started = events.find(
      (e) => e.workflowExecutionStartedEventAttributes,
    )?.workflowExecutionStartedEventAttributes;
    const completed = events.find(
      (e) => e.workflowExecutionCompletedEventAttributes,
    )?.workflowExecutionCompletedEventAttributes;
    const [input] = started?.input?.payloads ?? [];
    const [output] = completed?.result?.payloads ?? [];
    assert.ok(input && output, 'history has the started input and the completed result');
    completedResult = output;
    for (const p of [input, output]) {
      assert.equal(str(p.metadata?.[METADATA_ENCODING_KEY]), ENCRYPTED_ENCODING);
      assert.equal(str(p.metadata?.[METADATA_ENCRYPTION_KEY_ID]), encryptionKeyId(key));
    }
    // patched() leaves two records of the SDK's own that bypass the codec: a core_patch marker and the
    // TemporalChangeVersion search attribute. Both hold only patch ids, never data: check that, then leave them
    // out of the byte scan below.
    const patchIds = (e: (typeof events)[number]): unknown[] | undefined => {
      if (e.markerRecordedEventAttributes?.markerName === 'core_patch') {
        return (e.markerRecordedEventAttributes.details?.['patch-data']?.payloads ?? []).map(
          (p) => (JSON.parse(str(p.data)) as { id: unknown }).id,
        );
      }
      const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
      if (fields && Object.keys(fields).join() === 'TemporalChangeVersion') {
        return JSON.parse(str(fields.TemporalChangeVersion?.data)) as unknown[];
      }
      return undefined;
    };
    for (const e of events) {
      for (const id of patchIds(e) ?? []) assert.match(String(id), /^[a-z][a-z0-9-]*$/, 'a patch id');
    }
    // Activity inputs and results too: every payload in the whole serialized history is ciphertext.
    const scanned = { ...history, events: events.filter((e) => patchIds(e) === undefined) };
    const bytes = Buffer.from(proto.temporal.api.history.v1.History.encode(scanned).finish());
    for (const secret of [date, noticeText, phone, dataDir, 'outbox', 'json/plain']) {
      assert.equal(bytes.includes(secret), false, `"${secret}" appears in the history`);
    }
    await assert.rejects(plainClient.workflow.getHandle(workflowId).result(), /encoding|binary\/encrypted/i);
  });

  test('the codec server decodes the stored result over HTTP', async () => {
    assert.ok(completedResult, 'set by the previous test');
    const res = await decodeThroughCodecServer(codecServer, h.config.temporal.namespace, codecToken, completedResult);
    assert.equal(res.status, 200);
    const { payloads } = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.equal(payloads.length, 1);
    assert.equal(Buffer.from(payloads[0]?.metadata.encoding ?? '', 'base64').toString(), 'json/plain');
    assert.deepEqual(JSON.parse(Buffer.from(payloads[0]?.data ?? '', 'base64').toString()), result);
  });

  test('`temporal workflow show --codec-endpoint --codec-auth` shows the decrypted result', async () => {
    const show = async (codecArgs: string[]) => {
      const { stdout } = await temporalCliOn(h.config.temporal, [
        'workflow',
        'show',
        '--workflow-id',
        workflowId,
        '-o',
        'json',
        ...codecArgs,
      ]);
      const { events } = JSON.parse(stdout) as {
        events: { workflowExecutionCompletedEventAttributes?: { result: { payloads: Payload[] } } }[];
      };
      const [payload] = events.find((e) => e.workflowExecutionCompletedEventAttributes)
        ?.workflowExecutionCompletedEventAttributes?.result.payloads as unknown as {
        metadata: Record<string, string>;
        data: string;
      }[];
      assert.ok(payload, 'the completed event has a result payload');
      return {
        encoding: Buffer.from(payload.metadata.encoding ?? '', 'base64').toString(),
        data: Buffer.from(payload.data, 'base64'),
      };
    };
    const decoded = await show(['--codec-endpoint', codecServer.url, '--codec-auth', `Bearer ${codecToken}`]);
    assert.equal(decoded.encoding, 'json/plain');
    assert.deepEqual(JSON.parse(decoded.data.toString()), result);

    const raw = await show([]);
    assert.equal(raw.encoding, ENCRYPTED_ENCODING);
    assert.equal(raw.data.includes(date), false);
  });

  test('a workflow started by the plain temporal CLI (unencrypted input) still runs', async () => {
    const id = `encryption-plain-input-${uniq()}`;
    const plainDate = uniqueWeekendDate();
    await temporalCliOn(h.config.temporal, [
      'workflow',
      'start',
      '--task-queue',
      h.config.temporal.taskQueue,
      '--type',
      'weekendNotice',
      '--workflow-id',
      id,
      '--input',
      JSON.stringify({ date: plainDate }),
    ]);
    const out = (await h.client.workflow.getHandle(id).result()) as WeekendNoticeResult;
    assert.equal(out.date, plainDate);
    // The worker encrypted what it wrote back, even though the input was plain.
    const history = await plainClient.workflow.getHandle(id).fetchHistory();
    const completed = history.events?.find(
      (e) => e.workflowExecutionCompletedEventAttributes,
    )?.workflowExecutionCompletedEventAttributes;
    assert.equal(str(completed?.result?.payloads?.[0]?.metadata?.[METADATA_ENCODING_KEY]), ENCRYPTED_ENCODING);
  });
});

describe('failure messages and stack traces with encryption on', () => {
  const key = randomBytes(32);
  // The text a failing activity reports: it must reach operators with the key, and Temporal only as ciphertext.
  const secretMessage = `Telegram refused the chat of patient Ana-${uniq()} (+55 21 ${uniq().slice(0, 4)})`;
  const workflowId = `encryption-failure-${uniq()}`;
  const codecToken = randomBytes(24).toString('hex');
  let h: TestHarness;
  let plainClient: Client;
  let codecServer: RunningCodecServer;
  let failure: unknown;

  before(async () => {
    const config = testConfig({ TEMPORAL_ENCRYPTION_KEYS: key.toString('base64'), CODEC_SERVER_TOKEN: codecToken });
    h = await harness(config, {
      wrapActivities: (activities) => ({
        ...activities,
        weekendNoticeMessage: async function refusingWeekendNoticeMessage() {
          throw ApplicationFailure.nonRetryable(secretMessage, 'NoticeRefused');
        },
      }),
    });
    plainClient = await connectClient({ ...config, temporal: { ...config.temporal, encryptionKeys: [] } });
    codecServer = await startCodecServer(config, { port: 0 });
    failure = await h.client.workflow
      .execute('weekendNotice', {
        taskQueue: config.temporal.taskQueue,
        workflowId,
        args: [{ date: uniqueWeekendDate() }],
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
  });
  after(async () => {
    await codecServer?.close();
    await plainClient?.connection.close();
    await h?.close();
  });

  test('a client with the key gets the message and the stack trace back', () => {
    assert.ok(failure instanceof WorkflowFailedError, String(failure));
    assert.ok(failure.cause instanceof ActivityFailure, 'the workflow failed on the activity');
    const cause = failure.cause.cause;
    assert.ok(cause instanceof ApplicationFailure, 'the activity failed with an ApplicationFailure');
    assert.equal(cause.message, secretMessage);
    assert.equal(cause.type, 'NoticeRefused');
    assert.match(cause.stack ?? '', /refusingWeekendNoticeMessage/);
  });

  test('Temporal stores "Encoded failure" and ciphertext: no message text, no stack frame', async () => {
    const history = await plainClient.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    const activityFailure = events.find((e) => e.activityTaskFailedEventAttributes)?.activityTaskFailedEventAttributes
      ?.failure;
    const workflowFailure = events.find((e) => e.workflowExecutionFailedEventAttributes)
      ?.workflowExecutionFailedEventAttributes?.failure;
    assert.ok(activityFailure && workflowFailure, 'the history has the activity and the workflow failure');
    // The activity's failure is converted in the worker; the workflow's own failure inside the workflow sandbox.
    for (const f of [activityFailure, workflowFailure]) {
      assert.equal(f.message, 'Encoded failure');
      assert.equal(f.stackTrace ?? '', '');
      assert.equal(str(f.encodedAttributes?.metadata?.[METADATA_ENCODING_KEY]), ENCRYPTED_ENCODING);
      assert.equal(str(f.encodedAttributes?.metadata?.[METADATA_ENCRYPTION_KEY_ID]), encryptionKeyId(key));
    }
    const bytes = Buffer.from(proto.temporal.api.history.v1.History.encode(history).finish());
    for (const secret of [secretMessage, 'Telegram refused', 'refusingWeekendNoticeMessage', 'Activity task failed']) {
      assert.equal(bytes.includes(secret), false, `"${secret}" appears in the history`);
    }

    // With the key (as a worker or client has it) the stored attributes open to the original text.
    const [opened] = await new EncryptionCodec([key]).decode([activityFailure.encodedAttributes as Payload]);
    const attributes = JSON.parse(str(opened?.data)) as { message: string; stack_trace: string };
    assert.equal(attributes.message, secretMessage);
    assert.match(attributes.stack_trace, /refusingWeekendNoticeMessage/);
  });

  test('the codec server decodes the encoded failure attributes for the Web UI', async () => {
    const history = await plainClient.workflow.getHandle(workflowId).fetchHistory();
    const encoded = history.events?.find((e) => e.activityTaskFailedEventAttributes)?.activityTaskFailedEventAttributes
      ?.failure?.encodedAttributes;
    assert.ok(encoded, 'the activity failure has encoded attributes');
    const res = await decodeThroughCodecServer(codecServer, h.config.temporal.namespace, codecToken, encoded);
    assert.equal(res.status, 200);
    const { payloads } = (await res.json()) as { payloads: { data: string }[] };
    const attributes = JSON.parse(Buffer.from(payloads[0]?.data ?? '', 'base64').toString()) as { message: string };
    assert.equal(attributes.message, secretMessage);
  });
});
