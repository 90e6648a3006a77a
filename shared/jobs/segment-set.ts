import type { SegmentHead } from '../adapters/segment-store.ts';
import type { ConsentDefaults } from '../domain/consent/consent.ts';
import { loadSegmentDefinition } from '../domain/segments/load-segment-definition.ts';
import { type SegmentSet, segmentSet } from '../domain/segments/membership.ts';
import type { CompiledSegment } from '../domain/segments/segment-definition.ts';
import type { RuleCatalogue } from '../domain/tags/rule-catalogue.ts';
import type { Logger } from '../logging/logger.ts';

/**
 * The active segments as a compiled set. A saved definition the current rule catalogue no
 * longer accepts is left out (and logged): its members leave it until it is saved again.
 */
export function activeSegmentSet(
  heads: readonly SegmentHead[],
  catalogue: RuleCatalogue,
  logger: Logger,
  consentDefaults?: ConsentDefaults,
): SegmentSet {
  const active = heads.filter((head) => head.status === 'active');
  const known = new Map(active.map((head) => [head.id, new Set<string>()]));
  const compiled: CompiledSegment[] = [];
  for (const head of active) {
    try {
      compiled.push(loadSegmentDefinition(head.definition, { catalogue, segments: known }));
    } catch (error) {
      logger.warn('segment left out: its definition no longer fits the rule catalogue', {
        id: head.id,
        error,
      });
    }
  }
  // A segment reading one that was left out reads "not a member".
  return segmentSet(
    compiled,
    new Map(active.map((head) => [head.id, head.version])),
    consentDefaults,
  );
}

/** The version of each active segment: what a backfill job records of its set. */
export function activeSegmentVersions(heads: readonly SegmentHead[]): Record<string, number> {
  return Object.fromEntries(
    heads.filter((head) => head.status === 'active').map((head) => [head.id, head.version]),
  );
}
