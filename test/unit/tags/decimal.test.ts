import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decimalSlot,
  decimalToMicro,
  divideMicro,
  formatMicro,
  parseDecimalInto,
} from '../../../shared/domain/tags/decimal.ts';
import { refFormat, refMicro } from './reference.ts';

const readable: [unknown, string][] = [
  ['19.90', '19.9'],
  ['0', '0'],
  ['-0', '0'],
  ['007.10', '7.1'],
  ['-12.5', '-12.5'],
  ['0.000001', '0.000001'],
  ['0.0000005', '0.000001'],
  ['0.00000049999', '0'],
  ['-0.0000005', '-0.000001'],
  ['2.9999995', '3'],
  ['999999999999999', '999999999999999'],
  ['999999999999999.9999994', '999999999999999.999999'],
  [19.9, '19.9'],
  [0.1 + 0.2, '0.3'],
  [1e-7, '0'],
  [5e-7, '0.000001'],
  [-5e-7, '-0.000001'],
  [-3.25, '-3.25'],
  [-0, '0'],
  [Number('123456789.123456789'), '123456789.123457'],
  [4e9 + 0.5, '4000000000.5'],
  [999_999_999_999_999, '999999999999999'],
  [Number.MAX_SAFE_INTEGER / 1e4, '900719925474.0991'],
];

const unreadable: unknown[] = [
  'abc',
  '',
  ' 1',
  '1 ',
  '+1',
  '1e5',
  '1.',
  '.5',
  '1,5',
  '--1',
  '0x10',
  'Infinity',
  'NaN',
  '1000000000000000',
  '999999999999999.9999995',
  1e15,
  -1e15,
  1e21,
  Number.POSITIVE_INFINITY,
  Number.NaN,
  true,
  null,
  undefined,
  {},
  [],
  [1],
];

describe('decimal amounts', () => {
  it.each(readable)('reads %j as %s', (value, expected) => {
    const micro = decimalToMicro(value);
    expect(micro).toBeDefined();
    expect(formatMicro(micro as bigint)).toBe(expected);
  });

  it.each(unreadable.map((v) => [v]))('refuses %j', (value) => {
    expect(parseDecimalInto(value, decimalSlot())).toBe(false);
  });

  it('keeps micro in [0, 1e6) with the sign in units', () => {
    const slot = decimalSlot();
    expect(parseDecimalInto('-1.25', slot)).toBe(true);
    expect(slot).toEqual({ units: -2, micro: 750_000 });
  });

  it('divides rounding half away from zero', () => {
    expect(formatMicro(divideMicro(10_000_000n, 3n))).toBe('3.333333');
    expect(formatMicro(divideMicro(5n, 2n))).toBe('0.000003');
    expect(formatMicro(divideMicro(-5n, 2n))).toBe('-0.000003');
    expect(formatMicro(divideMicro(7n, -2n))).toBe('-0.000004');
  });

  it('agrees with the BigInt reference on any number or decimal string', () => {
    const candidate = fc.oneof(
      fc.double({ noNaN: true }),
      fc.integer(),
      fc.bigInt({ min: -(10n ** 17n), max: 10n ** 17n }).map((n) => {
        const text = (n < 0n ? -n : n).toString().padStart(9, '0');
        return `${n < 0n ? '-' : ''}${text.slice(0, -8)}.${text.slice(-8)}`;
      }),
      fc.stringMatching(/^-?\d{1,17}(\.\d{1,9})?$/),
      fc.string(),
    );
    fc.assert(
      fc.property(candidate, (value) => {
        const fast = decimalToMicro(value);
        expect(fast).toBe(refMicro(value));
        if (fast !== undefined) expect(formatMicro(fast)).toBe(refFormat(fast));
      }),
      { numRuns: 20_000 },
    );
  });

  it('sums exactly where binary floating point drifts', () => {
    const slot = decimalSlot();
    let units = 0;
    let micro = 0;
    let float = 0;
    for (let i = 0; i < 1000; i += 1) {
      parseDecimalInto(0.1, slot);
      units += slot.units;
      micro += slot.micro;
      float += 0.1;
    }
    expect(formatMicro(BigInt(units) * 1_000_000n + BigInt(micro))).toBe('100');
    expect(float).not.toBe(100);
  });
});
