/**
 * Payload encryption: every workflow input, result, activity argument, signal and query payload, and every
 * failure's message and stack trace, is sealed with AES-256-GCM before it leaves the process, so Temporal Server (and its database, backups
 * and Web UI) only ever stores ciphertext. The keys come from TEMPORAL_ENCRYPTION_KEYS (the first encrypts,
 * every one decrypts, so a rotated-out key still opens the history of runs that were open at rotation);
 * the Client and the Worker both get the codec, and the codec server (`healthsynth codec-server`) lets the
 * Web UI and the `temporal` CLI show decrypted payloads to operators who hold its token.
 *
 * Wire format of an encrypted payload (compatible with the Temporal samples' convention):
 *   metadata.encoding          = "binary/encrypted"
 *   metadata.encryption-key-id = first 8 hex characters of sha256(key) (names the key, never reveals it)
 *   data                       = IV (12 random bytes) ‖ AES-GCM ciphertext ‖ auth tag (16 bytes),
 * where the plaintext is the original Payload, protobuf-encoded, so its own metadata (encoding,
 * message type) is encrypted and restored with it.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  METADATA_ENCODING_KEY,
  ValueError,
  type DataConverter,
  type Payload,
  type PayloadCodec,
} from '@temporalio/common';
import proto from '@temporalio/proto';
import type { Config } from './config.js';

/** The `encoding` metadata value that marks a payload as encrypted by {@link EncryptionCodec}. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The metadata key naming the key a payload was encrypted with, so rotated keys can still decrypt old history. */
export const METADATA_ENCRYPTION_KEY_ID = 'encryption-key-id';

const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

const { Payload: PayloadMessage } = proto.temporal.api.common.v1;
const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const text = (b: Uint8Array | null | undefined): string | undefined =>
  b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8') : undefined;

/**
 * The short public id of a key: the first 8 hex characters of its SHA-256. Stored in each payload so a
 * decoder can tell which key it needs (or say clearly that it does not have it) without trying them all.
 */
export function encryptionKeyId(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/**
 * A {@link PayloadCodec} that encrypts with AES-256-GCM. The first key encrypts; every key given can
 * decrypt, so a rotation is: put the new key first, keep the old one until no open history uses it.
 *
 * Decoding passes through payloads that are not encrypted (a workflow started by the plain `temporal`
 * CLI, history written before encryption was turned on), and fails with a {@link ValueError} for an
 * unknown key id or a payload whose ciphertext or tag was altered: GCM authenticates every byte.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly keys = new Map<string, Buffer>();
  /** The id of the key new payloads are encrypted with. */
  readonly keyId: string;

  constructor(keys: readonly Uint8Array[]) {
    const [first] = keys;
    if (!first) throw new ValueError('EncryptionCodec needs at least one key');
    for (const key of keys) {
      if (key.byteLength !== KEY_BYTES) {
        throw new ValueError(`an AES-256 key must be ${KEY_BYTES} bytes, got ${key.byteLength}`);
      }
      const id = encryptionKeyId(key);
      // Two keys with one id would make decode pick one of them silently; refuse (a repeated key, or a 1 in 2^32 clash).
      if (this.keys.has(id))
        throw new ValueError(`two of the keys given have the same key id ${id}; give each key once`);
      this.keys.set(id, Buffer.from(key));
    }
    this.keyId = encryptionKeyId(first);
  }

  /** Builds a codec from base64 keys (as TEMPORAL_ENCRYPTION_KEYS holds them), the encrypting key first. */
  static fromBase64(...keys: string[]): EncryptionCodec {
    return new EncryptionCodec(keys.map((k) => Buffer.from(k, 'base64')));
  }

  /** Encrypts each payload with the current key and a fresh random IV (an IV is never reused with a key). */
  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.get(this.keyId) as Buffer;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(CIPHER, key, iv);
      const plaintext = PayloadMessage.encode(payload).finish();
      const sealed = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING), [METADATA_ENCRYPTION_KEY_ID]: utf8(this.keyId) },
        data: sealed,
      };
    });
  }

  /** Decrypts payloads marked `binary/encrypted`; returns every other payload unchanged. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
      const keyId = text(payload.metadata?.[METADATA_ENCRYPTION_KEY_ID]);
      if (!keyId) throw new ValueError(`encrypted payload has no ${METADATA_ENCRYPTION_KEY_ID} metadata`);
      const key = this.keys.get(keyId);
      if (!key) {
        throw new ValueError(
          `payload was encrypted with key id ${keyId}, which this process does not have (it has key id(s) ` +
            `${[...this.keys.keys()].join(', ')}); add that key to TEMPORAL_ENCRYPTION_KEYS after the current ` +
            'key (TEMPORAL_ENCRYPTION_KEYS=<current>,<old>) on every worker, client and codec server',
        );
      }
      const data = payload.data ?? new Uint8Array();
      if (data.byteLength < IV_BYTES + TAG_BYTES) {
        throw new ValueError(`encrypted payload is too short (${data.byteLength} bytes) to hold an IV and a tag`);
      }
      const sealed = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      const decipher = createDecipheriv(CIPHER, key, sealed.subarray(0, IV_BYTES));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      let plaintext: Buffer;
      try {
        plaintext = Buffer.concat([
          decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
          decipher.final(),
        ]);
      } catch {
        throw new ValueError(
          `encrypted payload (key id ${keyId}) failed authentication: it was altered or encrypted with a different key`,
        );
      }
      return PayloadMessage.decode(plaintext);
    });
  }
}

/**
 * The module whose failure converter moves failure messages and stack traces into an encrypted payload
 * (src/failure-converter.ts); the worker also bundles it into the workflow code. The source, also when this
 * module runs compiled from dist/ (a sibling of src/): the workflow bundle is always built from the sources.
 */
export const ENCODED_FAILURE_CONVERTER_PATH = fileURLToPath(new URL('../src/failure-converter.ts', import.meta.url));

/**
 * The data converter for Client and Worker when TEMPORAL_ENCRYPTION_KEYS is set: the {@link EncryptionCodec}
 * for payloads, and a failure converter that encodes failure messages and stack traces so the codec encrypts
 * them too (they can quote data). Without keys, undefined: the SDK default, plain JSON payloads and failures.
 * Client and Worker must agree, so both take it from here.
 */
export function dataConverterFor(config: Pick<Config, 'temporal'>): DataConverter | undefined {
  const { encryptionKeys } = config.temporal;
  if (encryptionKeys.length === 0) return undefined;
  return {
    payloadCodecs: [EncryptionCodec.fromBase64(...encryptionKeys)],
    failureConverterPath: ENCODED_FAILURE_CONVERTER_PATH,
  };
}
