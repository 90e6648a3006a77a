/** Every member's persona facts, from a parallel scan of the profiles' current tags. */
import { forEachScanPage } from '../../async/scan-segments.ts';
import { type MemberFacts, memberFactsFromTags } from '../../domain/analytics/personas.ts';
import type { TagValue } from '../../domain/tags/evaluate.ts';
import type { RuleCatalogue } from '../../domain/tags/rule-catalogue.ts';

export type ScanTags = (
  segment: number,
  totalSegments: number,
  start?: Record<string, unknown>,
) => Promise<{
  members: { memberKey: string; tags: Record<string, TagValue> }[];
  next: Record<string, unknown> | undefined;
}>;

/** The catalogue's interest-dimension condition tags (held or not): what cards count. */
export function interestTagIds(catalogue: RuleCatalogue): string[] {
  return catalogue.tags
    .filter((tag) => tag.definition.dimension === 'interest' && tag.definition.condition)
    .map((tag) => tag.id);
}

export async function memberFactsFromProfiles(
  scan: ScanTags,
  catalogue: RuleCatalogue,
  segments = 8,
): Promise<Map<string, MemberFacts>> {
  const interests = interestTagIds(catalogue);
  const facts = new Map<string, MemberFacts>();
  await forEachScanPage(segments, scan, (page) => {
    for (const member of page.members) {
      facts.set(member.memberKey, memberFactsFromTags(member.tags, interests));
    }
  });
  return facts;
}
