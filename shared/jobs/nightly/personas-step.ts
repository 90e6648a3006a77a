/**
 * The persona step: cards with stable ids and the drift from the latest succeeded run, the RFM
 * summary for the API, and every member's results (RFM, tier, cluster, persona) written to the
 * lake for the write-back shards, which it lists for the state machine's Map.
 */

import type { AnalyticsRun, StoredPersonas } from '../../adapters/analytics-store.ts';
import type { LakeStore, RfmRow } from '../../domain/analytics/contracts.ts';
import type { MemberAnalytics } from '../../domain/analytics/member-results.ts';
import {
  type BilingualText,
  buildPersonas,
  type MemberFacts,
} from '../../domain/analytics/personas.ts';
import { type RfmSummary, summariseRfm } from '../../domain/analytics/rfm-summary.ts';
import { memberKeyOfRfm } from '../write-back.ts';
import type { ClusterStepOutput, StoredClustering } from './cluster-step.ts';
import { getJson, getNdjson, putNdjson, runPrefix } from './lake-files.ts';
import type { RunPlan } from './run-plan.ts';

export interface PersonasStepDeps {
  readonly lake: LakeStore;
  readonly readRows: (keys: readonly string[]) => Promise<RfmRow[]>;
  /** Every member's facts by profile key (a scan of the profiles' tags). */
  readonly facts: () => Promise<ReadonlyMap<string, MemberFacts>>;
  readonly latestSucceeded: () => Promise<AnalyticsRun | undefined>;
  readonly saveRfm: (runId: string, summary: RfmSummary) => Promise<void>;
  readonly savePersonas: (personas: StoredPersonas) => Promise<void>;
  /** Write-back shards (parallel-scan segments of the profiles table). @default 8 */
  readonly shards?: number;
}

export interface PersonasStepInput {
  readonly run: RunPlan;
  readonly cluster: ClusterStepOutput;
}

/** Each k-means index's persona: its stable id and name (what every member of it gets). */
export interface PersonaOfIndex {
  readonly id: string;
  readonly name: BilingualText | null;
}

/**
 * One write-back shard: an item of the state machine's Map. The shard builds the members'
 * results itself from the run's RFM rows and clustering (`clustersKey`) and the personas of the
 * k-means indexes (a handful of entries), so no file of every member's results is written.
 */
export interface WriteBackShardTask {
  readonly runId: string;
  readonly asOf: string;
  readonly clustersKey: string;
  readonly personas: readonly PersonaOfIndex[];
  readonly shard: number;
  readonly shards: number;
}

export interface PersonasStepOutput {
  readonly memberClustersKey: string;
  readonly clusters: number;
  readonly previousRunId: string | null;
  readonly shards: readonly WriteBackShardTask[];
}

/**
 * One line of a run's members file, which earlier versions wrote (every member's results);
 * read only as the fallback source of an old run's persona ids.
 */
export interface MemberResultsLine {
  readonly memberId: string;
  readonly memberKey: string;
  readonly results: MemberAnalytics;
}

/** An older run's members file (see {@link MemberResultsLine}). */
export function membersKey(runId: string): string {
  return `${runPrefix(runId)}members.ndjson.gz`;
}

/** One line of a run's cluster file: a member and its persona (cluster) id, nothing else. */
export interface MemberClusterLine {
  readonly memberId: string;
  readonly cluster: string;
}

/**
 * A run's members and their persona ids alone, which the next night's drift reads: at 1M members
 * it parses in a fraction of the second the full members file takes (docs/BENCHMARKS.md). The
 * eraser rewrites it like every NDJSON file of the lake (rows by `memberId`).
 */
export function memberClustersKey(runId: string): string {
  return `${runPrefix(runId)}member-clusters.ndjson.gz`;
}

/** The previous run's persona id per member: its cluster file, or its members file (older runs). */
async function previousClusters(
  lake: LakeStore,
  runId: string,
): Promise<Map<string, string> | undefined> {
  const clusterOf = new Map<string, string>();
  const lines = await getNdjson<MemberClusterLine>(lake, memberClustersKey(runId));
  if (lines) {
    for (const line of lines) clusterOf.set(line.memberId, line.cluster);
    return clusterOf;
  }
  const members = await getNdjson<MemberResultsLine>(lake, membersKey(runId));
  if (!members) return undefined;
  for (const line of members) {
    if (line.results.cluster) clusterOf.set(line.memberId, line.results.cluster);
  }
  return clusterOf;
}

export async function runPersonasStep(
  deps: PersonasStepDeps,
  input: PersonasStepInput,
): Promise<PersonasStepOutput> {
  const { run } = input;
  const clustering = await getJson<StoredClustering>(deps.lake, input.cluster.clustersKey);
  // The profiles scan behind the facts (network-bound on AWS: minutes at 1M members) runs while
  // the RFM rows are parsed.
  const [rows, facts, latest] = await Promise.all([
    deps.readRows(clustering.rowKeys),
    deps.facts(),
    deps.latestSucceeded(),
  ]);
  let previous: { runId: string; clusterOf: Map<string, string> } | undefined;
  if (latest && latest.runId !== run.runId) {
    const clusterOf = await previousClusters(deps.lake, latest.runId);
    if (clusterOf) previous = { runId: latest.runId, clusterOf };
  }
  const personas =
    clustering.k > 0
      ? buildPersonas({
          rows,
          assignments: clustering.assignments,
          centroids: clustering.centroids,
          k: clustering.k,
          scaling: clustering.scaling,
          facts: (memberId) => facts.get(memberKeyOfRfm(memberId)),
          ...(previous ? { previous } : {}),
        })
      : undefined;
  const cardOf = new Map((personas?.cards ?? []).map((card) => [card.id, card]));
  const personaOfIndex: PersonaOfIndex[] = (personas?.idOfIndex ?? []).map((id) => ({
    id,
    name: cardOf.get(id)?.name ?? null,
  }));
  const clustersFile = memberClustersKey(run.runId);
  const clusterLines: MemberClusterLine[] = [];
  rows.forEach((row, i) => {
    const persona = personaOfIndex[clustering.assignments[i] as number];
    if (persona) clusterLines.push({ memberId: row.memberId, cluster: persona.id });
  });
  await putNdjson(deps.lake, clustersFile, clusterLines);
  await deps.saveRfm(run.runId, summariseRfm(rows));
  await deps.savePersonas({
    runId: run.runId,
    cards: personas?.cards ?? [],
    drift: personas?.drift ?? {
      previousRunId: previous?.runId ?? null,
      transitions: [],
      stayed: 0,
      moved: 0,
      entered: 0,
      left: previous?.clusterOf.size ?? 0,
      retired: [],
    },
  });
  const shards = deps.shards ?? 8;
  return {
    memberClustersKey: clustersFile,
    clusters: clustering.k,
    previousRunId: previous?.runId ?? null,
    shards: Array.from({ length: shards }, (_, shard) => ({
      runId: run.runId,
      asOf: run.asOf,
      clustersKey: input.cluster.clustersKey,
      personas: personaOfIndex,
      shard,
      shards,
    })),
  };
}
