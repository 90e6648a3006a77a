import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dateToDay,
  dayToDate,
  InvalidTimeZoneError,
  parseTimestamp,
  zoneCalendar,
} from '../../../shared/domain/tags/zone-calendar.ts';
import { refLocalDate } from './reference.ts';

const at = (iso: string) => Date.parse(iso);
const day = (date: string) => dateToDay(date) as number;

describe('brand-local days', () => {
  it.each([
    ['Asia/Shanghai', '2024-05-01T15:59:59.999Z', '2024-05-01'],
    ['Asia/Shanghai', '2024-05-01T16:00:00.000Z', '2024-05-02'],
    ['Asia/Shanghai', '2023-12-31T16:00:00.000Z', '2024-01-01'],
    ['Europe/Berlin', '2024-03-30T22:59:59.999Z', '2024-03-30'],
    ['Europe/Berlin', '2024-03-30T23:00:00.000Z', '2024-03-31'],
    // 31 March 2024 is 23 hours long in Berlin: the next day starts at 22:00 UTC.
    ['Europe/Berlin', '2024-03-31T21:59:59.999Z', '2024-03-31'],
    ['Europe/Berlin', '2024-03-31T22:00:00.000Z', '2024-04-01'],
    // 27 October 2024 is 25 hours long.
    ['Europe/Berlin', '2024-10-26T22:00:00.000Z', '2024-10-27'],
    ['Europe/Berlin', '2024-10-27T22:59:59.999Z', '2024-10-27'],
    ['Europe/Berlin', '2024-10-27T23:00:00.000Z', '2024-10-28'],
    ['America/New_York', '2024-03-10T04:59:59.999Z', '2024-03-09'],
    ['America/New_York', '2024-03-10T05:00:00.000Z', '2024-03-10'],
    ['Asia/Kathmandu', '2024-05-01T18:14:59.999Z', '2024-05-01'],
    ['Asia/Kathmandu', '2024-05-01T18:15:00.000Z', '2024-05-02'],
  ])('%s: %s is on %s', (zone, instant, date) => {
    expect(zoneCalendar(zone).localDate(at(instant))).toBe(date);
  });

  it.each([
    ['Europe/Berlin', '2024-03-31', '2024-01-01T00:00:00.000Z', '2024-03-30T23:00:00.000Z'],
    ['Europe/Berlin', '2024-04-01', '2024-01-01T00:00:00.000Z', '2024-03-31T22:00:00.000Z'],
    ['Europe/Berlin', '2024-10-28', '2024-10-27T12:00:00.000Z', '2024-10-27T23:00:00.000Z'],
    ['Asia/Shanghai', '2024-05-02', '2024-05-01T00:00:00.000Z', '2024-05-01T16:00:00.000Z'],
    // Clocks jumped from 00:00 to 01:00: the day starts at 01:00 local.
    ['America/Sao_Paulo', '2018-11-04', '2018-11-03T12:00:00.000Z', '2018-11-04T03:00:00.000Z'],
    // Samoa skipped 30 December 2011: the first instant on or after it is 31 December.
    ['Pacific/Apia', '2011-12-30', '2011-12-29T00:00:00.000Z', '2011-12-30T10:00:00.000Z'],
  ])('%s: %s, searched from %s, starts at %s', (zone, date, from, expected) => {
    expect(new Date(zoneCalendar(zone).firstInstantOfDay(day(date), at(from))).toISOString()).toBe(
      expected,
    );
  });

  it('finds DST transitions to the second', () => {
    const berlin = zoneCalendar('Europe/Berlin');
    expect(berlin.nextTransition(at('2024-01-01T00:00:00Z'), at('2024-12-31T00:00:00Z'))).toBe(
      at('2024-03-31T01:00:00Z'),
    );
    expect(berlin.nextTransition(at('2024-04-01T00:00:00Z'), at('2024-12-31T00:00:00Z'))).toBe(
      at('2024-10-27T01:00:00Z'),
    );
    expect(
      zoneCalendar('Asia/Shanghai').nextTransition(
        at('2024-01-01T00:00:00Z'),
        at('2025-01-01T00:00:00Z'),
      ),
    ).toBeUndefined();
  });

  it('agrees with Intl on any instant, in zones with and without DST', () => {
    const zones = [
      'Asia/Shanghai',
      'Europe/Berlin',
      'America/New_York',
      'Australia/Lord_Howe',
      'Asia/Kathmandu',
      'America/Sao_Paulo',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.oneof(
          fc.integer({ min: at('1971-01-01T00:00:00Z'), max: at('2060-01-01T00:00:00Z') }),
          fc
            .tuple(
              fc.integer({ min: 0, max: 40_000 }),
              fc.integer({ min: 0, max: 95 }),
              fc.integer({ min: -2, max: 2 }),
            )
            .map(
              ([d, q, nudge]) => at('2000-01-01T00:00:00Z') + d * 86_400_000 + q * 900_000 + nudge,
            ),
        ),
        (zone, ms) => {
          expect(zoneCalendar(zone).localDate(ms)).toBe(refLocalDate(ms, zone));
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('reads instants outside the cached years through Intl', () => {
    expect(zoneCalendar('Asia/Shanghai').localDate(at('1960-06-01T20:00:00Z'))).toBe('1960-06-02');
    expect(zoneCalendar('Europe/Berlin').localDate(at('2400-07-01T22:30:00Z'))).toBe('2400-07-02');
  });

  it('refuses an unknown zone with a typed error', () => {
    expect(() => zoneCalendar('Mars/Olympus_Mons')).toThrow(InvalidTimeZoneError);
  });
});

describe('dates and timestamps', () => {
  it('converts day numbers and dates both ways (years 0000–9999)', () => {
    expect(day('1970-01-01')).toBe(0);
    expect(day('2024-05-01')).toBe(19844);
    expect(dayToDate(19844)).toBe('2024-05-01');
    expect(dayToDate(-1)).toBe('1969-12-31');
    fc.assert(
      fc.property(fc.integer({ min: -719_528, max: 2_932_896 }), (n) => {
        expect(dateToDay(dayToDate(n))).toBe(n);
      }),
    );
  });

  it.each([
    '2023-02-29',
    '2024-13-01',
    '2024-00-10',
    '2024-04-31',
    '24-01-01',
    '2024-1-01',
    'abcd-ef-gh',
  ])('refuses the date %s', (text) => {
    expect(dateToDay(text)).toBeUndefined();
  });

  it('parses any timestamp exactly as Date.parse does', () => {
    const texts = fc.oneof(
      fc
        .date({ min: new Date('1900-01-01'), max: new Date('2200-01-01'), noInvalidDate: true })
        .map((d) => d.toISOString()),
      fc
        .tuple(
          fc.integer({ min: 0, max: 9999 }),
          fc.integer({ min: 0, max: 13 }),
          fc.integer({ min: 0, max: 32 }),
          fc.integer({ min: 0, max: 25 }),
          fc.integer({ min: 0, max: 61 }),
          fc.integer({ min: 0, max: 61 }),
          fc.integer({ min: 0, max: 999 }),
        )
        .map(
          ([y, mo, d, h, mi, s, ms]) =>
            `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:${String(mi).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(ms).padStart(3, '0')}Z`,
        ),
      fc.constantFrom(
        '2024-05-01T12:00:00Z',
        '2024-05-01T12:00:00.000+08:00',
        '2024-05-01',
        'x',
        '',
        '2024-05-01T12:00:00.000z',
      ),
      fc.string({ minLength: 24, maxLength: 24 }),
    );
    fc.assert(
      fc.property(texts, (text) => {
        expect(parseTimestamp(text)).toBe(Date.parse(text));
      }),
      { numRuns: 20_000 },
    );
  });
});
