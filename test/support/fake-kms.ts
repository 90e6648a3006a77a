/**
 * A stand-in for KMS in tests. KMS has no local emulator in this project (DynamoDB Local and the
 * SQS stand-in have one; KMS does not), so the personal-data key tests run against this fake of
 * `DataKeyService`. It behaves as KMS does where the adapter depends on it: a data key is wrapped
 * under a master key the fake never reveals, with the encryption context bound in (AES-GCM with
 * the context as additional data), so unwrapping under another context, or a blob of another
 * "KMS key", fails as KMS's `InvalidCiphertextException` does. It counts its calls, can be made
 * to fail like a disabled key, and can hold generators at a barrier to force a creation race.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type {
  DataKeyService,
  EncryptionContext,
  GeneratedDataKey,
} from '../../shared/adapters/kms-personal-data-cipher.ts';

/** An error named like an SDK service exception (`name` is what the adapter reports). */
export class FakeKmsError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

const canonical = (context: EncryptionContext): Buffer =>
  Buffer.from(
    JSON.stringify(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );

export interface FakeKmsOptions {
  /** The fake KMS key's secret; share it between instances to model one KMS key. */
  readonly masterKey?: Buffer;
  readonly keyArn?: string;
  /** The data key `generate` hands out. @default 32 random bytes per call */
  readonly dataKey?: () => Buffer;
}

export class FakeKms implements DataKeyService {
  readonly masterKey: Buffer;
  readonly keyArn: string;
  readonly calls = { generate: 0, unwrap: 0 };
  /** When set, every call fails with this error (e.g. a disabled key). */
  failWith: Error | undefined;
  private barrier: { size: number; waiting: Array<() => void> } | undefined;
  private readonly dataKey: () => Buffer;

  constructor(options: FakeKmsOptions = {}) {
    this.masterKey = options.masterKey ?? randomBytes(32);
    this.keyArn = options.keyArn ?? 'arn:aws:kms:eu-west-1:111122223333:key/fake';
    this.dataKey = options.dataKey ?? (() => randomBytes(32));
  }

  /** Holds each `generate` until `size` of them are waiting, so all read "no key" first. */
  holdGenerators(size: number): void {
    this.barrier = { size, waiting: [] };
  }

  async generate(context: EncryptionContext): Promise<GeneratedDataKey> {
    this.calls.generate += 1;
    if (this.failWith) throw this.failWith;
    const barrier = this.barrier;
    if (barrier) {
      await new Promise<void>((release) => {
        barrier.waiting.push(release);
        if (barrier.waiting.length >= barrier.size) for (const go of barrier.waiting) go();
      });
    }
    const plaintext = this.dataKey();
    return {
      plaintext: Buffer.from(plaintext),
      wrapped: this.wrap(plaintext, context),
      keyArn: this.keyArn,
    };
  }

  async unwrap(wrapped: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    this.calls.unwrap += 1;
    if (this.failWith) throw this.failWith;
    const blob = Buffer.from(wrapped);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.masterKey, blob.subarray(0, 12));
      decipher.setAAD(canonical(context));
      decipher.setAuthTag(blob.subarray(12, 28));
      return Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]);
    } catch {
      throw new FakeKmsError('InvalidCiphertextException', 'The ciphertext is invalid');
    }
  }

  private wrap(plaintext: Buffer, context: EncryptionContext): Uint8Array {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.masterKey, iv);
    cipher.setAAD(canonical(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return new Uint8Array(Buffer.concat([iv, cipher.getAuthTag(), body]));
  }
}
