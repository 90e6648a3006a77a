/**
 * The erasures API of a running local runtime, as tests call it: a key with `members:erase`,
 * `DELETE /v1/members/{id}` and the receipt polled until the erasure ends.
 */
import { expect } from 'vitest';
import { WriteKeyStore } from '../../shared/adapters/write-key-store.ts';
import { generateWriteKey } from '../../shared/domain/keys/write-key.ts';
import type { TestRuntime } from './runtime.ts';

/** A receipt as the API answers it (the fields tests read). */
export interface ReceiptBody {
  readonly receipt: string;
  readonly status: string;
  readonly statusUrl?: string;
  readonly requestedAt: string;
  readonly finishedAt: string;
  readonly removed: Readonly<
    Record<'events' | 'profiles' | 'memberships' | 'lake', Record<string, number>>
  >;
}

export interface ErasureApi {
  call(method: string, path: string): Promise<{ status: number; body: ReceiptBody }>;
  /** Starts an erasure and waits for its receipt to leave pending / running. */
  erase(id: string): Promise<ReceiptBody>;
}

/** Creates a key with scope `members:erase` and answers the calls made with it. */
export async function erasureApi(t: TestRuntime): Promise<ErasureApi> {
  const key = generateWriteKey('test');
  await new WriteKeyStore(t.documents, t.runtime.tables['write-keys']).create(key, {
    sourceId: 'test-erase',
    name: 'eraser',
    scopes: ['members:erase'],
  });
  const call = async (method: string, path: string) => {
    const response = await fetch(`${t.runtime.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}` },
    });
    return { status: response.status, body: (await response.json()) as ReceiptBody };
  };
  const erase = async (id: string) => {
    const started = await call('DELETE', `/v1/members/${encodeURIComponent(id)}`);
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body.status).toBe('pending');
    const receipt = String(started.body.receipt);
    expect(started.body.statusUrl).toBe(`/v1/erasures/${receipt}`);
    for (let i = 0; i < 300; i += 1) {
      const read = await call('GET', `/v1/erasures/${receipt}`);
      expect(read.status).toBe(200);
      if (read.body.status === 'done' || read.body.status === 'failed') return read.body;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`erasure ${receipt} did not finish`);
  };
  return { call, erase };
}
