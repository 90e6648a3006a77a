import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareExact,
  type ExactDecimal,
  exactDecimalOf,
  exactKey,
} from '../../../shared/domain/segments/exact-decimal.ts';

const runs = Number(process.env.PORTRAIT_PROPERTY_RUNS ?? 3_000);

function exact(value: unknown): ExactDecimal {
  const read = exactDecimalOf(value);
  if (!read) throw new Error(`cannot read ${String(value)}`);
  return read;
}

describe('exact decimals', () => {
  it.each<[unknown, string]>([
    ['19.90', '199e-1'],
    [19.9, '199e-1'],
    ['0007.50', '75e-1'],
    ['-0', '0e0'],
    [-0, '0e0'],
    ['0.000', '0e0'],
    [1e21, '1e21'],
    ['1000000000000000000000', '1e21'],
    [5e-7, '5e-7'],
    [0.1 + 0.2, '30000000000000004e-17'],
    [-2500, '-25e2'],
    [Number.MAX_SAFE_INTEGER, '9007199254740991e0'],
  ])('reads %j exactly', (value, key) => {
    expect(exactKey(exact(value))).toBe(key);
  });

  it.each([
    ['1e3'],
    ['+1'],
    ['1.'],
    ['.5'],
    [' 1'],
    [''],
    ['abc'],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [true],
    [null],
    [[1]],
  ])('refuses %j', (value) => {
    expect(exactDecimalOf(value)).toBeUndefined();
  });

  it('compares any two finite doubles as their native order (the evaluator relies on it)', () => {
    const double = fc.double({ noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(double, double, (a, b) => {
        const native = a < b ? -1 : a > b ? 1 : 0;
        expect(compareExact(exact(a), exact(b))).toBe(native);
        expect(exactKey(exact(a)) === exactKey(exact(b))).toBe(native === 0);
      }),
      { numRuns: runs },
    );
  });

  it('compares decimal strings as BigInt fractions do', () => {
    const decimal = fc
      .tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.nat(25))
      .map(([negative, digits, scale]) => {
        const text = digits.toString().padStart(scale + 1, '0');
        const body = scale === 0 ? text : `${text.slice(0, -scale)}.${text.slice(-scale)}`;
        return { text: negative ? `-${body}` : body, num: negative ? -digits : digits, scale };
      });
    fc.assert(
      fc.property(decimal, decimal, (a, b) => {
        const left = a.num * 10n ** BigInt(b.scale);
        const right = b.num * 10n ** BigInt(a.scale);
        expect(compareExact(exact(a.text), exact(b.text))).toBe(
          left < right ? -1 : left > right ? 1 : 0,
        );
      }),
      { numRuns: runs },
    );
  });
});
