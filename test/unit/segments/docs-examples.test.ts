/** The JSON examples of docs/SEGMENTS.md are real: the tag loads into the catalogue, the segments load and evaluate. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluateSegments, loadSegmentDefinitions } from '../../../shared/domain/segments/index.ts';
import { defaultCatalogueJson } from '../../../shared/domain/tags/default-catalogue.ts';
import { loadRuleCatalogue } from '../../../shared/domain/tags/rule-catalogue.ts';

const page = readFileSync(new URL('../../../docs/SEGMENTS.md', import.meta.url), 'utf8');
const blocks = [...page.matchAll(/```json\n([\s\S]*?)```/g)].map(
  (match) => JSON.parse((match[1] ?? '').replace(/^ {2}/gm, '')) as Record<string, unknown>,
);
const tags = blocks.filter((block) => 'dimension' in block);
const definitions = blocks.filter((block) => 'expression' in block);

describe('docs/SEGMENTS.md', () => {
  it('has a tag to add and four segment definitions', () => {
    expect(tags.map((t) => t.id)).toEqual(['new_flavour_fan']);
    expect(definitions.map((d) => d.id)).toEqual([
      'bbq_beijing_fans',
      'bbq_new_flavour_fans',
      'bbq_winback',
      'big_spenders_analysis',
    ]);
  });

  it('loads them against the default catalogue with the tag added, and evaluates them', () => {
    const base = structuredClone(defaultCatalogueJson) as { tags: unknown[] };
    const catalogue = loadRuleCatalogue({ ...base, tags: [...base.tags, ...tags] });
    const loaded = loadSegmentDefinitions(definitions, { catalogue });
    const results = evaluateSegments(loaded, {
      tags: { category_explorer: true, new_flavour_fan: true, user_type: 'loyal' },
      traits: { city: '北京' },
      aggregates: { orders_365d: 23, revenue_365d: '6002.5' },
      rfm: { r: 2 },
      valueTier: 'mid',
    });
    expect(Object.fromEntries([...results].map(([id, r]) => [id, r.in]))).toEqual({
      bbq_beijing_fans: true,
      bbq_new_flavour_fans: true,
      bbq_winback: true,
      big_spenders_analysis: true,
    });
  });
});
