/**
 * Stream consumers and suppression, against DynamoDB Local: records of an erased member still in
 * a stream when it was erased bring nothing back. The tagger folds no event of a suppressed
 * member and makes no link to or from it; the historian writes no history for it. Other members
 * in the same batch are handled as ever.
 */

import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../events/envelope.ts';
import { makeHistorianHandler } from '../../functions/historian/historian.ts';
import { makeTaggerHandler } from '../../functions/tagger/tagger.ts';
import { ensureTables } from '../../infra/local/tables.ts';
import { ErasureStore } from '../../shared/adapters/erasure-store.ts';
import { ProfileStore } from '../../shared/adapters/profile-store.ts';
import { defaultRuleCatalogue } from '../../shared/domain/tags/default-catalogue.ts';
import { silentLogger } from '../../shared/logging/logger.ts';
import { type TestClients, testClients, uniquePrefix } from '../support/dynamo.ts';
import { batch, nextSequenceNumber, stream } from '../support/tagger-stream.ts';

let clients: TestClients;
let profiles: ProfileStore;
let erasures: ErasureStore;

beforeAll(async () => {
  clients = testClients();
  const tables = await ensureTables(clients.dynamo, uniquePrefix('stream-suppression'));
  profiles = new ProfileStore(clients.documents, tables.profiles);
  erasures = new ErasureStore(clients.documents, tables.erasures);
  await erasures.suppress(['u#gone-t', 'a#gone-anon'], 'er_test', Date.now());
});
afterAll(() => clients.destroy());

const at = new Date().toISOString();
const event = (fields: Partial<PortraitEvent>): PortraitEvent =>
  ({
    type: 'track',
    event: 'Shared',
    timestamp: at,
    receivedAt: at,
    sourceId: 'test',
    ...fields,
  }) as PortraitEvent;

describe('stream consumers skip suppressed members', () => {
  it('the tagger folds no event of a suppressed member and links nothing to it', async () => {
    const tagger = makeTaggerHandler({
      applyProfile: (key, update) => profiles.apply(key, update),
      mergeIdentity: (source, into, combine) => profiles.merge(source, into, combine),
      catalogue: defaultRuleCatalogue(),
      zone: 'Asia/Shanghai',
      now: Date.now,
      logger: silentLogger,
      suppressedAmong: (keys) => erasures.suppressedAmong(keys),
    });
    const records = batch(
      stream([
        event({ messageId: 'g-1', userId: 'gone-t' }),
        event({ messageId: 'g-2', anonymousId: 'gone-anon' }),
        event({ messageId: 'k-1', anonymousId: 'keep-anon' }),
        event({ messageId: 'k-2', userId: 'keep-t' }),
        event({
          messageId: 'g-3',
          type: 'identify',
          userId: 'keep-t',
          anonymousId: 'gone-anon',
        } as Partial<PortraitEvent>),
        event({
          messageId: 'k-3',
          type: 'identify',
          userId: 'keep-t',
          anonymousId: 'keep-anon',
        } as Partial<PortraitEvent>),
      ]),
    );
    expect(await tagger(records)).toEqual({ batchItemFailures: [] });
    expect(await profiles.get('u#gone-t')).toBeUndefined();
    expect(await profiles.get('a#gone-anon')).toBeUndefined();
    const kept = await profiles.get('u#keep-t');
    expect(kept?.ids).toEqual(['a#keep-anon']);
    expect((await profiles.resolve('a#keep-anon')).memberKey).toBe('u#keep-t');
  });

  it('the historian writes no history for a suppressed member', async () => {
    const historian = makeHistorianHandler({
      recordHistory: (memberKey, version, entries) =>
        profiles.recordHistory(memberKey, version, entries),
      logger: silentLogger,
      suppressedAmong: (keys) => erasures.suppressedAmong(keys),
    });
    const changes = [
      { at: Date.now(), cause: { kind: 'clock' }, changes: [{ tag: 't', from: null, to: true }] },
    ];
    const record = (memberKey: string) => ({
      eventName: 'MODIFY' as const,
      dynamodb: {
        SequenceNumber: nextSequenceNumber(),
        NewImage: marshall({ pk: `m#${memberKey}`, sk: 'profile', version: 3, changes }) as Record<
          string,
          AttributeValue
        >,
      },
    });
    const event = { Records: [record('u#gone-t'), record('u#keep-h')] } as DynamoDBStreamEvent;
    expect(await historian(event)).toEqual({ batchItemFailures: [] });
    expect((await profiles.history('u#gone-t', 10)).entries).toEqual([]);
    expect((await profiles.history('u#keep-h', 10)).entries).toHaveLength(1);
  });
});
