/**
 * The preview's arithmetic when time runs out: counts come from the finished scan parts only,
 * scaled by the share of parts finished, and the answer says it is an estimate. The profile scan
 * here is an in-memory stand-in for `ProfileStore.scanProfiles` (the DynamoDB path is exercised
 * over HTTP in test/integration/segment-membership.test.ts); it serves real folded profiles.
 */
import { describe, expect, it } from 'vitest';
import type { StoredProfile } from '../../../shared/adapters/profile-store.ts';
import { loadSegmentDefinition } from '../../../shared/domain/segments/load-segment-definition.ts';
import { defaultRuleCatalogue } from '../../../shared/domain/tags/default-catalogue.ts';
import { foldEvents } from '../../../shared/domain/tags/fold.ts';
import { emptyProfile } from '../../../shared/domain/tags/profile.ts';
import { previewSegment } from '../../../shared/jobs/preview-segment.ts';

const catalogue = defaultRuleCatalogue();
const zone = 'Asia/Shanghai';
const NOW = Date.parse('2026-11-20T04:00:00Z');

function profile(i: number): StoredProfile {
  const city = i % 2 === 0 ? '北京' : '上海';
  const at = new Date(NOW - 1_000).toISOString();
  const state = foldEvents(
    emptyProfile(catalogue, zone),
    [
      {
        type: 'identify',
        userId: `p${i}`,
        messageId: `p${i}`,
        timestamp: at,
        receivedAt: at,
        sourceId: 't',
        traits: { city },
      },
    ],
    catalogue,
    zone,
  ).state;
  return {
    memberKey: `u#p${i}`,
    state,
    tags: {},
    appliedSeq: {},
    ids: [],
    version: 1,
    nextChangeAt: undefined,
  };
}

const beijing = loadSegmentDefinition(
  {
    id: 'beijing',
    labels: { 'zh-CN': '北京', en: 'Beijing' },
    purpose: 'marketing',
    expression: { trait: 'city', op: '=', value: '北京' },
  },
  { catalogue },
);

// 8 parts of 10 members each; part p holds members p*10 … p*10+9.
const deps = {
  scanProfiles: async (part: number) => ({
    profiles: Array.from({ length: 10 }, (_, i) => profile(part * 10 + i)),
    next: undefined,
  }),
  segmentsOf: async (keys: readonly string[]) =>
    new Map(keys.filter((k) => Number(k.slice(3)) < 8).map((k) => [k, new Set(['beijing'])])),
  catalogue,
  zone,
  now: () => NOW,
};

describe('previewSegment', () => {
  it('is exact when every part is scanned', async () => {
    const preview = await previewSegment(deps, [beijing], 'beijing', true, () => true, {
      parts: 8,
      sampleSize: 3,
    });
    expect(preview).toMatchObject({ count: 40, exact: true, coverage: 1, scanned: 80 });
    expect(preview.sample).toEqual(['u#p0', 'u#p10', 'u#p12']);
    // Today p0–p7 are in: the odd ones (上海) would leave; the even ones from p8 on would enter.
    expect(preview.leave.count).toBe(4);
    expect(preview.enter.count).toBe(36);
  });

  it('scales the finished parts when time runs out, and says so', async () => {
    let checks = 0;
    const preview = await previewSegment(deps, [beijing], 'beijing', false, () => checks++ < 2, {
      parts: 8,
      concurrency: 1,
    });
    // Two parts of eight finished: 10 of their 20 members are in Beijing, scaled by 8 / 2.
    expect(preview).toMatchObject({
      count: 10 * 4,
      exact: false,
      coverage: 0.25,
      scanned: 20,
    });
  });
});
