import {
  type IngestErrorCode,
  ingestErrors,
  ingestLimits,
  type PortraitEvent,
  type ValidationResult,
} from '../../../events/envelope.ts';
import type { IngestPath } from '../../../infra/declarations/routes.ts';

/** Status of a `/v1/batch` answer where some events were accepted and some rejected. */
export const PARTIAL_SUCCESS_STATUS = 207;

/** Per-event result listed when a request is not wholly accepted. */
export interface EventResult {
  readonly index: number;
  readonly messageId?: string;
  readonly status: 'accepted' | 'rejected';
  readonly code?: IngestErrorCode;
  readonly message?: string;
  readonly pointer?: string;
}

/** The events to queue (stamped with the key's source) and a result for every event sent. */
export function sortResults(
  items: ReadonlyArray<{
    readonly index: number;
    readonly result: ValidationResult;
    readonly raw?: unknown;
  }>,
  sourceId: string,
): { accepted: PortraitEvent[]; results: EventResult[] } {
  const accepted: PortraitEvent[] = [];
  const results: EventResult[] = [];
  for (const item of items) {
    if (item.result.ok) {
      const event = { ...item.result.event, sourceId };
      accepted.push(event);
      results.push({ index: item.index, messageId: event.messageId, status: 'accepted' });
      continue;
    }
    const { code, message, pointer } = item.result.error;
    const messageId = messageIdOf(item.raw);
    results.push({
      index: item.index,
      ...(messageId !== undefined ? { messageId } : {}),
      status: 'rejected',
      code,
      message,
      ...(pointer !== undefined ? { pointer } : {}),
    });
  }
  return { accepted, results };
}

/**
 * The answer Segment's libraries expect: `{"success":true}` when everything was accepted; the
 * event's own error on a single-event route; on a batch, per-event results with 207 when some
 * were accepted and 400 when none were.
 */
export function ingestAnswer(
  route: IngestPath,
  results: readonly EventResult[],
  requestId: string,
): { status: number; body: Record<string, unknown> } {
  const rejected = results.filter((result) => result.status === 'rejected');
  if (rejected.length === 0) return { status: 200, body: { success: true } };
  const accepted = results.length - rejected.length;
  if (route !== '/v1/batch') {
    const only = rejected[0];
    return {
      status: only?.code ? ingestErrors[only.code].status : 400,
      body: {
        success: false,
        code: only?.code,
        message: only?.message,
        pointer: only?.pointer,
        requestId,
      },
    };
  }
  return {
    status: accepted > 0 ? PARTIAL_SUCCESS_STATUS : 400,
    body: {
      success: false,
      code: accepted > 0 ? 'partial_success' : 'all_events_rejected',
      message: `${accepted} event(s) accepted, ${rejected.length} rejected; see results.`,
      accepted,
      rejected: rejected.length,
      results,
      requestId,
    },
  };
}

function messageIdOf(raw: unknown): string | undefined {
  if (raw && typeof raw === 'object' && 'messageId' in raw) {
    const id = (raw as { messageId: unknown }).messageId;
    if (typeof id === 'string' && id.length <= ingestLimits.maxIdLength) return id;
  }
  return undefined;
}

/** The source keys an event names: its userId, anonymousId and (alias) previousId, both ways. */
export function identityKeysOf(
  event: Pick<PortraitEvent, 'userId' | 'anonymousId' | 'previousId'>,
): string[] {
  const keys: string[] = [];
  if (event.userId !== undefined) keys.push(`u#${event.userId}`);
  if (event.anonymousId !== undefined) keys.push(`a#${event.anonymousId}`);
  if (event.previousId !== undefined) keys.push(`u#${event.previousId}`, `a#${event.previousId}`);
  return keys;
}

/**
 * Takes the events of suppressed members out of what `sortResults` accepted: each such event's
 * result becomes a `member_suppressed` rejection; the other events stay accepted.
 */
export function rejectSuppressed(
  sorted: { readonly accepted: readonly PortraitEvent[]; readonly results: readonly EventResult[] },
  suppressed: ReadonlySet<string>,
): { accepted: PortraitEvent[]; results: EventResult[] } {
  if (suppressed.size === 0) {
    return { accepted: [...sorted.accepted], results: [...sorted.results] };
  }
  const accepted: PortraitEvent[] = [];
  const results: EventResult[] = [];
  let next = 0;
  for (const result of sorted.results) {
    if (result.status !== 'accepted') {
      results.push(result);
      continue;
    }
    const event = sorted.accepted[next++];
    if (event && identityKeysOf(event).some((key) => suppressed.has(key))) {
      results.push({
        index: result.index,
        messageId: event.messageId,
        status: 'rejected',
        code: 'member_suppressed',
        message: 'This member was erased and is suppressed; the event was not stored.',
      });
      continue;
    }
    if (event) accepted.push(event);
    results.push(result);
  }
  return { accepted, results };
}
