/**
 * Brand-local calendar days in an IANA time zone, fast. A day is numbered as days since
 * 1970-01-01 of the local calendar date (local 2024-05-01 is day 19844, whatever the zone).
 *
 * Offsets come from Intl once per UTC day and are cached in blocks of 512 days; a UTC day whose
 * start and end offsets differ gets its transition instant by binary search to the second. This
 * assumes at most one offset change per UTC day, which holds for every tzdb zone since 1970.
 */

export const DAY_MS = 86_400_000;
const BLOCK_DAYS = 512;
/** Blocks cover UTC days [0, 512 × 256): 1970 to 2328. Other instants ask Intl each time. */
const MAX_BLOCKS = 256;

export class InvalidTimeZoneError extends Error {
  readonly code = 'invalid_time_zone';
  constructor(readonly timeZone: string) {
    super(`"${timeZone}" is not an IANA time zone this runtime knows (e.g. "Asia/Shanghai").`);
    this.name = 'InvalidTimeZoneError';
  }
}

interface OffsetBlock {
  /** Offset (ms, local − UTC) at the start of each UTC day of the block. */
  readonly startOffset: Int32Array;
  /** Offset after the day's transition (equal to startOffset when there is none). */
  readonly afterOffset: Int32Array;
  /** Instant of the day's transition, NaN when there is none. */
  readonly transitionAt: Float64Array;
}

/** The local calendar of one IANA zone. Get one with {@link zoneCalendar}. */
export class ZoneCalendar {
  private readonly format: Intl.DateTimeFormat;
  private readonly blocks: (OffsetBlock | undefined)[] = [];
  /** The UTC day {@link localDay} read last: its start, offsets and transition instant. */
  private lastDayStart = Number.NaN;
  private lastBefore = 0;
  private lastAfter = 0;
  private lastTransition = Number.POSITIVE_INFINITY;

  constructor(readonly timeZone: string) {
    try {
      this.format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new InvalidTimeZoneError(timeZone);
    }
  }

  /** Local day number of an instant (epoch ms). */
  localDay(ms: number): number {
    // Most events of a batch fall on the same UTC day as the previous one.
    if (ms >= this.lastDayStart && ms < this.lastDayStart + DAY_MS) {
      return Math.floor(
        (ms + (ms >= this.lastTransition ? this.lastAfter : this.lastBefore)) / DAY_MS,
      );
    }
    const utcDay = Math.floor(ms / DAY_MS);
    const blockIndex = Math.floor(utcDay / BLOCK_DAYS);
    if (utcDay < 0 || blockIndex >= MAX_BLOCKS)
      return Math.floor((ms + this.intlOffset(ms)) / DAY_MS);
    const block = this.blocks[blockIndex] ?? this.fillBlock(blockIndex);
    const i = utcDay - blockIndex * BLOCK_DAYS;
    this.lastDayStart = utcDay * DAY_MS;
    this.lastBefore = block.startOffset[i] as number;
    this.lastAfter = block.afterOffset[i] as number;
    const transition = block.transitionAt[i] as number;
    this.lastTransition = Number.isNaN(transition) ? Number.POSITIVE_INFINITY : transition;
    return Math.floor(
      (ms + (ms >= this.lastTransition ? this.lastAfter : this.lastBefore)) / DAY_MS,
    );
  }

  /** Offset (local − UTC, ms) in force at an instant. */
  offsetAt(ms: number): number {
    const utcDay = Math.floor(ms / DAY_MS);
    const blockIndex = Math.floor(utcDay / BLOCK_DAYS);
    if (utcDay < 0 || blockIndex >= MAX_BLOCKS) return this.intlOffset(ms);
    const block = this.blocks[blockIndex] ?? this.fillBlock(blockIndex);
    const i = utcDay - blockIndex * BLOCK_DAYS;
    // NaN (no transition) compares false.
    return ms >= (block.transitionAt[i] as number)
      ? (block.afterOffset[i] as number)
      : (block.startOffset[i] as number);
  }

  /**
   * The first instant t > `after` at which the local day reaches `day` or more — or, earlier, the
   * instant the local date steps backwards (a DST end across midnight), so a caller waiting for
   * the calendar to move is never late. `day` must be after the local day of `after`.
   */
  firstInstantOfDay(day: number, after: number): number {
    let t = after;
    for (let guard = 0; guard < 10_000; guard += 1) {
      const target = day * DAY_MS - this.offsetAt(t);
      const transition = this.nextTransition(t, target);
      if (transition === undefined) return target > t ? target : t + 1;
      const dayAfter = this.localDay(transition);
      if (dayAfter >= day || dayAfter < this.localDay(transition - 1)) return transition;
      t = transition;
    }
    return t + 1;
  }

  /** The first offset change in (after, until], or `undefined`. */
  nextTransition(after: number, until: number): number | undefined {
    const firstDay = Math.floor(after / DAY_MS);
    const lastDay = Math.floor(until / DAY_MS);
    for (let utcDay = firstDay; utcDay <= lastDay; utcDay += 1) {
      const blockIndex = Math.floor(utcDay / BLOCK_DAYS);
      if (utcDay < 0 || blockIndex >= MAX_BLOCKS) return this.searchTransition(after, until);
      const block = this.blocks[blockIndex] ?? this.fillBlock(blockIndex);
      const at = block.transitionAt[utcDay - blockIndex * BLOCK_DAYS] as number;
      if (at > after && at <= until) return at;
    }
    return undefined;
  }

  /** `YYYY-MM-DD` of an instant's local date. */
  localDate(ms: number): string {
    return dayToDate(this.localDay(ms));
  }

  private fillBlock(blockIndex: number): OffsetBlock {
    const startOffset = new Int32Array(BLOCK_DAYS);
    const afterOffset = new Int32Array(BLOCK_DAYS);
    const transitionAt = new Float64Array(BLOCK_DAYS).fill(Number.NaN);
    const firstDay = blockIndex * BLOCK_DAYS;
    let previous = this.intlOffset(firstDay * DAY_MS);
    for (let i = 0; i < BLOCK_DAYS; i += 1) {
      const dayStart = (firstDay + i) * DAY_MS;
      const next = this.intlOffset(dayStart + DAY_MS);
      startOffset[i] = previous;
      afterOffset[i] = next;
      if (next !== previous) transitionAt[i] = this.bisect(dayStart, dayStart + DAY_MS, previous);
      previous = next;
    }
    const block = { startOffset, afterOffset, transitionAt };
    this.blocks[blockIndex] = block;
    return block;
  }

  /** The first whole second in (low, high] whose offset differs from `before`. */
  private bisect(low: number, high: number, before: number): number {
    let lo = low;
    let hi = high;
    while (hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (this.intlOffset(mid) === before) lo = mid;
      else hi = mid;
    }
    return hi;
  }

  /** Slow path outside the cached range: scan hour by hour. */
  private searchTransition(after: number, until: number): number | undefined {
    const before = this.intlOffset(after);
    const step = 3_600_000;
    for (let t = after; t < until; t += step) {
      const end = Math.min(t + step, until);
      if (this.intlOffset(end) !== before) return this.bisect(t, end, before);
    }
    return undefined;
  }

  private intlOffset(ms: number): number {
    const second = Math.floor(ms / 1000) * 1000;
    let year = 0;
    let month = 0;
    let day = 0;
    let hour = 0;
    let minute = 0;
    let sec = 0;
    for (const part of this.format.formatToParts(second)) {
      switch (part.type) {
        case 'year':
          year = Number(part.value);
          break;
        case 'month':
          month = Number(part.value);
          break;
        case 'day':
          day = Number(part.value);
          break;
        case 'hour':
          hour = Number(part.value);
          break;
        case 'minute':
          minute = Number(part.value);
          break;
        case 'second':
          sec = Number(part.value);
          break;
        default:
          break;
      }
    }
    const local = new Date(0);
    local.setUTCFullYear(year, month - 1, day);
    local.setUTCHours(hour, minute, sec, 0);
    return local.getTime() - second;
  }
}

const calendars = new Map<string, ZoneCalendar>();

/** The cached calendar of an IANA zone. Throws {@link InvalidTimeZoneError} for unknown zones. */
export function zoneCalendar(timeZone: string): ZoneCalendar {
  let calendar = calendars.get(timeZone);
  if (!calendar) {
    calendar = new ZoneCalendar(timeZone);
    calendars.set(timeZone, calendar);
  }
  return calendar;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra =
    yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The calendar date of a day number: `{ year, month (1–12), day (1–31) }`. */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear =
    dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

/** `YYYY-MM-DD` of a day number. */
export function dayToDate(days: number): string {
  const { year, month, day } = civilFromDays(days);
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Day number of a valid `YYYY-MM-DD`, or `undefined` (wrong shape, 2023-02-29, 2024-13-01). */
export function dateToDay(text: string): number | undefined {
  if (text.length !== 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45)
    return undefined;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return undefined;
  }
  return daysFromCivil(year, month, day);
}

/** The non-negative integer of `count` ASCII digits at `start`, or -1. */
function digits(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i += 1) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    value = value * 10 + (c - 48);
  }
  return value;
}

/**
 * Epoch ms of an event timestamp. The stored form (`2024-05-01T12:34:56.789Z`, what collect
 * writes) is parsed by hand, ten times faster than `Date.parse`; any other text goes to
 * `Date.parse`, so the result is always `Date.parse(text)` (NaN when unreadable).
 */
export function parseTimestamp(text: string): number {
  if (
    text.length === 24 &&
    text.charCodeAt(4) === 45 &&
    text.charCodeAt(7) === 45 &&
    text.charCodeAt(10) === 84 &&
    text.charCodeAt(13) === 58 &&
    text.charCodeAt(16) === 58 &&
    text.charCodeAt(19) === 46 &&
    text.charCodeAt(23) === 90
  ) {
    const y0 = text.charCodeAt(0) - 48;
    const y1 = text.charCodeAt(1) - 48;
    const y2 = text.charCodeAt(2) - 48;
    const y3 = text.charCodeAt(3) - 48;
    const mo0 = text.charCodeAt(5) - 48;
    const mo1 = text.charCodeAt(6) - 48;
    const d0 = text.charCodeAt(8) - 48;
    const d1 = text.charCodeAt(9) - 48;
    const h0 = text.charCodeAt(11) - 48;
    const h1 = text.charCodeAt(12) - 48;
    const mi0 = text.charCodeAt(14) - 48;
    const mi1 = text.charCodeAt(15) - 48;
    const s0 = text.charCodeAt(17) - 48;
    const s1 = text.charCodeAt(18) - 48;
    const ms0 = text.charCodeAt(20) - 48;
    const ms1 = text.charCodeAt(21) - 48;
    const ms2 = text.charCodeAt(22) - 48;
    // A character is a digit when its code minus 48, read unsigned, is below 10.
    if (
      y0 >>> 0 < 10 &&
      y1 >>> 0 < 10 &&
      y2 >>> 0 < 10 &&
      y3 >>> 0 < 10 &&
      mo0 >>> 0 < 10 &&
      mo1 >>> 0 < 10 &&
      d0 >>> 0 < 10 &&
      d1 >>> 0 < 10 &&
      h0 >>> 0 < 10 &&
      h1 >>> 0 < 10 &&
      mi0 >>> 0 < 10 &&
      mi1 >>> 0 < 10 &&
      s0 >>> 0 < 10 &&
      s1 >>> 0 < 10 &&
      ms0 >>> 0 < 10 &&
      ms1 >>> 0 < 10 &&
      ms2 >>> 0 < 10
    ) {
      const year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
      const month = mo0 * 10 + mo1;
      const day = d0 * 10 + d1;
      const hour = h0 * 10 + h1;
      const minute = mi0 * 10 + mi1;
      const second = s0 * 10 + s1;
      if (
        month >= 1 &&
        month <= 12 &&
        day >= 1 &&
        (day <= 28 || day <= daysInMonth(year, month)) &&
        hour <= 23 &&
        minute <= 59 &&
        second <= 59
      ) {
        const dateKey = year * 10_000 + month * 100 + day;
        if (dateKey !== lastDateKey) {
          lastDateKey = dateKey;
          lastDateDays = daysFromCivil(year, month, day);
        }
        return (
          lastDateDays * DAY_MS +
          hour * 3_600_000 +
          minute * 60_000 +
          second * 1000 +
          ms0 * 100 +
          ms1 * 10 +
          ms2
        );
      }
    }
  }
  return Date.parse(text);
}

/** The last date {@link parseTimestamp} converted: events of a batch mostly share a few dates. */
let lastDateKey = -1;
let lastDateDays = 0;
