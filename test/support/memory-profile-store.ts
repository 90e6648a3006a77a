/**
 * An in-memory stand-in for `ProfileStore` with the same contract — versioned optimistic writes,
 * identity links followed on every read, a merge that links and folds in one step, a due query —
 * so property tests can drive the tagger and the sweeper through thousands of delivery orders in
 * seconds. The real store is tested against DynamoDB Local in test/handlers; this one keeps the
 * state as JSON text, as the real one does, so every read parses what a write stored.
 */
import {
  type ApplyOutcome,
  type DueMember,
  type MergeDecision,
  type MergeOutcome,
  nextStoredProfile,
  type ProfileUpdate,
  type StoredProfile,
} from '../../shared/adapters/profile-store.ts';
import { profileFromJson, profileToJson } from '../../shared/domain/tags/profile.ts';

type Item =
  | { kind: 'profile'; json: string; version: number }
  | { kind: 'link'; mergedInto: string; version: number };

export class MemoryProfileStore {
  private readonly items = new Map<string, Item>();
  /** Profile writes made (one per successful apply or merge). */
  writes = 0;

  private read(key: string): StoredProfile | { link: string } | undefined {
    const item = this.items.get(key);
    if (!item) return undefined;
    if (item.kind === 'link') return { link: item.mergedInto };
    const stored = JSON.parse(item.json) as Omit<StoredProfile, 'state'> & { state: unknown };
    return { ...stored, state: profileFromJson(stored.state) };
  }

  resolve(key: string): { memberKey: string; profile: StoredProfile | undefined } {
    let memberKey = key;
    for (let hop = 0; hop < 10; hop += 1) {
      const item = this.read(memberKey);
      if (item === undefined) return { memberKey, profile: undefined };
      if ('link' in item) memberKey = item.link;
      else return { memberKey, profile: item };
    }
    throw new Error(`link chain from ${key} too long`);
  }

  get(key: string): StoredProfile | undefined {
    return this.resolve(key).profile;
  }

  private write(profile: StoredProfile): void {
    const json = JSON.stringify({ ...profile, state: profileToJson(profile.state) });
    this.items.set(profile.memberKey, { kind: 'profile', json, version: profile.version });
    this.writes += 1;
  }

  async apply(key: string, update: ProfileUpdate): Promise<ApplyOutcome> {
    const { memberKey, profile: current } = this.resolve(key);
    const change = update(current);
    if (change === undefined) return { status: 'unchanged', profile: current };
    const profile = nextStoredProfile(memberKey, current, change);
    this.write(profile);
    return { status: 'written', profile, attempts: 1, writeUnits: 1 };
  }

  async merge(
    sourceKey: string,
    intoKey: string,
    combine: (
      member: StoredProfile | undefined,
      source: StoredProfile | undefined,
      memberKey: string,
    ) => MergeDecision,
  ): Promise<MergeOutcome> {
    const target = this.resolve(intoKey);
    if (target.memberKey === sourceKey) return { status: 'same', memberKey: sourceKey };
    const source = this.read(sourceKey);
    if (source !== undefined && 'link' in source) {
      const owner = this.resolve(sourceKey).memberKey;
      return owner === target.memberKey
        ? { status: 'already', memberKey: owner }
        : { status: 'linked-elsewhere', memberKey: owner };
    }
    const decision = combine(target.profile, source, target.memberKey);
    if (decision.kind === 'refuse') {
      return { status: 'refused', memberKey: target.memberKey, reason: decision.reason };
    }
    this.write(nextStoredProfile(target.memberKey, target.profile, decision.change));
    this.items.set(sourceKey, {
      kind: 'link',
      mergedInto: target.memberKey,
      version: (source?.version ?? 0) + 1,
    });
    return { status: 'merged', memberKey: target.memberKey, writeUnits: 2 };
  }

  async due(
    _shard: number,
    now: number,
  ): Promise<{ members: DueMember[]; next: Record<string, unknown> | undefined }> {
    const members: DueMember[] = [];
    for (const key of this.items.keys()) {
      const profile = this.read(key);
      if (profile && !('link' in profile) && profile.nextChangeAt !== undefined) {
        if (profile.nextChangeAt <= now) {
          members.push({ memberKey: key, nextChangeAt: profile.nextChangeAt });
        }
      }
    }
    return { members, next: undefined };
  }

  /** Keys of stored profiles (not links). */
  memberKeys(): string[] {
    return [...this.items].filter(([, item]) => item.kind === 'profile').map(([key]) => key);
  }
}
