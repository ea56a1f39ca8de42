/**
 * The failure converter used while payloads are encrypted. Temporal stores a failure's message and stack
 * trace as plain text by default, and those quote whatever the error said (an id, a value from a bad row),
 * so with encryption on they are moved into the failure's `encodedAttributes` payload, which the payload
 * codec encrypts like any other. Temporal then shows "Encoded failure"; a client or worker with the key,
 * and the codec server, restore the text.
 *
 * The SDK loads it by path (a module with a `failureConverter` export) in the client and worker, and the
 * worker's workflow bundle includes it, because failures thrown by workflow code are converted inside the
 * workflow sandbox. So this module must stay free of Node APIs.
 */
import { DefaultFailureConverter } from '@temporalio/common';

/** Encodes every failure's message and stack trace into a payload the codec encrypts. */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
