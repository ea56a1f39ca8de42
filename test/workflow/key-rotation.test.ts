/**
 * Key rotation on an OPEN run, on the real dev server: a workflow started under key K1 waits for a
 * signal while its worker is stopped. A worker and client on "K2" alone cannot go on with it: the
 * workflow task fails with an error that names K1's key id and the setting to fix, and nothing is
 * lost. A worker and client on "K2,K1" then finish the same run, and everything written after the
 * rotation (signal, activity input and result, workflow result) is sealed under K2 while the start
 * input stays under K1.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import {
  dataConverterFor,
  ENCODED_FAILURE_CONVERTER_PATH,
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  encryptionKeyId,
  METADATA_ENCRYPTION_KEY_ID,
} from '../../src/codec.js';
import type { Config } from '../../src/config.js';
import { connectClient } from '../../src/temporal.js';
import { installQuietRuntime } from '../../src/worker.js';
import { testConfig, uniq } from '../support/env.js';
import { approveSignal, type ApprovalActivities, type ApprovalResult } from './fixtures/approval-workflows.js';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

const str = (b: Uint8Array | null | undefined): string => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const keyIdOf = (p: Payload | null | undefined): string => str(p?.metadata?.[METADATA_ENCRYPTION_KEY_ID]);
const WORKFLOWS = fileURLToPath(new URL('./fixtures/approval-workflows.ts', import.meta.url));

describe('encryption key rotation on an open run', () => {
  const [k1, k2] = [randomBytes(32), randomBytes(32)];
  const [id1, id2] = [encryptionKeyId(k1), encryptionKeyId(k2)];
  const taskQueue = `test-rotation-${uniq()}`;
  const configFor = (...keys: Buffer[]): Config =>
    testConfig({
      TEMPORAL_TASK_QUEUE: taskQueue,
      TEMPORAL_ENCRYPTION_KEYS: keys.map((k) => k.toString('base64')).join(','),
    });
  const workflowId = `key-rotation-${uniq()}`;
  // Values that must only ever be stored as ciphertext.
  const patient = `Patient-${uniq()}`;
  const note = `approved-by-${uniq()}`;
  const activities: ApprovalActivities = { label: async (text) => `label(${text})` };

  let connection: NativeConnection;
  let plainClient: Client;
  let workflowCode: string;

  /** Runs a worker with `keys` on the test's task queue; the returned function stops it. */
  async function startWorker(config: Config): Promise<() => Promise<void>> {
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue,
      workflowBundle: { code: workflowCode },
      activities,
      dataConverter: dataConverterFor(config),
    });
    const running = worker.run();
    return async () => {
      worker.shutdown();
      await running;
    };
  }

  /** The run's raw history (no codec), polled until `predicate` holds for one of its events. */
  async function waitForEvent(predicate: (e: HistoryEvent) => boolean, what: string): Promise<HistoryEvent[]> {
    for (let i = 0; i < 300; i++) {
      const events = (await plainClient.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      if (events.some(predicate)) return events;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the history of ${workflowId} never got ${what}`);
  }

  before(async () => {
    installQuietRuntime();
    const plain = testConfig({ TEMPORAL_ENCRYPTION_KEYS: '' });
    connection = await NativeConnection.connect({ address: plain.temporal.address });
    plainClient = await connectClient(plain);
    ({ code: workflowCode } = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS,
      failureConverterPath: ENCODED_FAILURE_CONVERTER_PATH,
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
    }));
  });
  after(async () => {
    await plainClient?.workflow
      .getHandle(workflowId)
      .terminate('test cleanup')
      .catch(() => undefined);
    await plainClient?.connection.close();
    await connection?.close();
  });

  test('K1 starts it; "K2" alone fails naming K1\'s key id; "K2,K1" finishes it under K2', async () => {
    // 1. Worker and client on K1: the run starts and waits for the signal; then the worker stops.
    const k1Config = configFor(k1);
    const k1Client = await connectClient(k1Config);
    const stopK1 = await startWorker(k1Config);
    try {
      await k1Client.workflow.start('awaitApproval', { taskQueue, workflowId, args: [{ patient }] });
      await waitForEvent((e) => Boolean(e.workflowTaskCompletedEventAttributes), 'a completed workflow task');
    } finally {
      await stopK1();
      await k1Client.connection.close();
    }

    // 2. Worker and client on K2 alone: the signal goes in (under K2), but the worker cannot read the start
    //    input, so the workflow task fails with an error naming the missing key id. The run stays open.
    const k2Config = configFor(k2);
    const k2Client = await connectClient(k2Config);
    const stopK2 = await startWorker(k2Config);
    let failedTask: HistoryEvent | undefined;
    try {
      await k2Client.workflow.getHandle(workflowId).signal(approveSignal, { note });
      const events = await waitForEvent((e) => Boolean(e.workflowTaskFailedEventAttributes), 'a failed workflow task');
      failedTask = events.find((e) => e.workflowTaskFailedEventAttributes);
    } finally {
      await stopK2();
      await k2Client.connection.close();
    }
    // The failure text is itself encrypted (under K2, the key that worker had); opened, it names the missing key.
    const failure = failedTask?.workflowTaskFailedEventAttributes?.failure;
    assert.equal(failure?.message, 'Encoded failure');
    assert.equal(keyIdOf(failure?.encodedAttributes), id2);
    const [opened] = await new EncryptionCodec([k2]).decode([failure?.encodedAttributes as Payload]);
    const { message } = JSON.parse(str(opened?.data)) as { message: string };
    assert.match(message, new RegExp(`encrypted with key id ${id1}, which this process does not have`));
    assert.match(message, new RegExp(`it has key id\\(s\\) ${id2}\\)`));
    assert.match(message, /TEMPORAL_ENCRYPTION_KEYS/);
    assert.equal((await plainClient.workflow.getHandle(workflowId).describe()).status.name, 'RUNNING');

    // 3. Worker and client on "K2,K1": the same run completes with the right values. (The server retries the
    //    failed workflow task after a backoff of about 10 s; nothing needs to be restarted or reset.)
    const rotatedConfig = configFor(k2, k1);
    const rotatedClient = await connectClient(rotatedConfig);
    const stopRotated = await startWorker(rotatedConfig);
    let result: ApprovalResult;
    try {
      result = await rotatedClient.workflow.getHandle<() => Promise<ApprovalResult>>(workflowId).result();
    } finally {
      await stopRotated();
      await rotatedClient.connection.close();
    }
    assert.deepEqual(result, { patient, note, label: `label(${patient}: ${note})` });

    // What Temporal stored: the start input under K1, everything after the rotation under K2, no plaintext.
    const history = await plainClient.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    const first = (pick: (e: HistoryEvent) => Payload | null | undefined): Payload | null | undefined =>
      events.map(pick).find((p) => p);
    const stored = {
      startInput: first((e) => e.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]),
      signal: first((e) => e.workflowExecutionSignaledEventAttributes?.input?.payloads?.[0]),
      activityInput: first((e) => e.activityTaskScheduledEventAttributes?.input?.payloads?.[0]),
      activityResult: first((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]),
      workflowResult: first((e) => e.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0]),
    };
    for (const [name, payload] of Object.entries(stored)) {
      assert.equal(str(payload?.metadata?.[METADATA_ENCODING_KEY]), ENCRYPTED_ENCODING, `${name} is encrypted`);
    }
    assert.deepEqual(Object.fromEntries(Object.entries(stored).map(([name, payload]) => [name, keyIdOf(payload)])), {
      startInput: id1,
      signal: id2,
      activityInput: id2,
      activityResult: id2,
      workflowResult: id2,
    });
    const bytes = Buffer.from(proto.temporal.api.history.v1.History.encode(history).finish());
    for (const secret of [patient, note]) assert.equal(bytes.includes(secret), false, `"${secret}" is in the history`);
  });
});
