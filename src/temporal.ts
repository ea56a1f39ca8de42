/**
 * Connecting to Temporal, for the CLI, tests and the worker. Local dev server by default;
 * Temporal Cloud or a TLS cluster through TEMPORAL_TLS_* or TEMPORAL_API_KEY.
 */
import { readFile } from 'node:fs/promises';
import {
  Client,
  Connection,
  WorkflowNotFoundError,
  type ConnectionOptions,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { dataConverterFor } from './codec.js';
import type { Config } from './config.js';

export { WORKFLOW_TYPES, workflowIds } from './workflow-ids.js';

/** Connection options shared by the client and the worker's NativeConnection. */
export async function connectionOptions(
  temporal: Config['temporal'],
): Promise<Pick<ConnectionOptions, 'address' | 'tls'> & { apiKey?: string }> {
  const tls =
    temporal.tlsCertPath && temporal.tlsKeyPath
      ? {
          clientCertPair: {
            crt: await readFile(temporal.tlsCertPath),
            key: await readFile(temporal.tlsKeyPath),
          },
        }
      : temporal.tls;
  return {
    address: temporal.address,
    tls,
    ...(temporal.apiKey ? { apiKey: temporal.apiKey } : {}),
  };
}

/**
 * Connects a Temporal client, failing with a message that says where it tried and what to do. With
 * TEMPORAL_ENCRYPTION_KEY set, the client encrypts and decrypts payloads like the worker does.
 */
export async function connectClient(config: Config): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect(await connectionOptions(config.temporal));
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${config.temporal.address} (${(err as Error).message}). ` +
        'Start the local stack with `npm run stack:up`, or set TEMPORAL_ADDRESS.',
    );
  }
  return new Client({ connection, namespace: config.temporal.namespace, dataConverter: dataConverterFor(config) });
}

/** The description of the handle's run, or undefined when the server has never seen its workflow id. */
export async function describeOrUndefined(handle: WorkflowHandle): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
