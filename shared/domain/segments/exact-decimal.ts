/**
 * Exact comparison of the numbers a segment reads: JSON numbers and decimal strings (`"88.5"`,
 * the form sum, min, max and avg aggregates take). A value is `coefficient × 10^exponent` with
 * integers, so `"19.90" = 19.9` and `"88.50" > 88.49` hold and nothing is compared in binary
 * floating point. A JSON number means its shortest decimal form: `0.30000000000000004` (what
 * `0.1 + 0.2` sends) is not `0.3` — the aggregates the tag engine stores are already exact.
 *
 * The tag engine's `decimal.ts` quantises to 1e-6 and refuses amounts of 1e15 or more: right for
 * summing money, but a segment compares values as stored (a trait may carry `0.0000001` or a
 * large id), so this module compares them as written, at any size and precision.
 */

/** `coefficient × 10^exponent`, normalised: no trailing zero digit in a non-zero coefficient; zero is `0 × 10^0`. */
export interface ExactDecimal {
  readonly coefficient: bigint;
  readonly exponent: number;
}

const decimalText = /^-?\d+(?:\.\d+)?$/;
const numberText = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/;

function normalise(coefficient: bigint, exponent: number): ExactDecimal {
  if (coefficient === 0n) return { coefficient: 0n, exponent: 0 };
  let c = coefficient;
  let e = exponent;
  while (c % 10n === 0n) {
    c /= 10n;
    e += 1;
  }
  return { coefficient: c, exponent: e };
}

function fromParts(
  negative: boolean,
  whole: string,
  fraction: string,
  exponent: number,
): ExactDecimal {
  const coefficient = BigInt(whole + fraction);
  return normalise(negative ? -coefficient : coefficient, exponent - fraction.length);
}

/**
 * The exact value of a finite JSON number (read through its shortest decimal form, as
 * `String(n)` writes it) or of a decimal string `-?digits(.digits)?` — no `+`, exponent or
 * spaces in strings, the grammar of decimal aggregates. `undefined` for anything else.
 */
export function exactDecimalOf(value: unknown): ExactDecimal | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    if (Number.isSafeInteger(value)) return normalise(BigInt(value), 0);
    const match = numberText.exec(String(value));
    if (!match) return undefined;
    return fromParts(match[1] === '-', match[2] ?? '0', match[3] ?? '', Number(match[4] ?? 0));
  }
  if (typeof value === 'string' && decimalText.test(value)) {
    const negative = value.startsWith('-');
    const body = negative ? value.slice(1) : value;
    const point = body.indexOf('.');
    return point < 0
      ? fromParts(negative, body, '', 0)
      : fromParts(negative, body.slice(0, point), body.slice(point + 1), 0);
  }
  return undefined;
}

/** Sign of `a − b`. */
export function compareExact(a: ExactDecimal, b: ExactDecimal): -1 | 0 | 1 {
  if (a.coefficient === 0n || b.coefficient === 0n || a.coefficient < 0n !== b.coefficient < 0n) {
    return a.coefficient < b.coefficient ? -1 : a.coefficient > b.coefficient ? 1 : 0;
  }
  const scale = Math.min(a.exponent, b.exponent);
  const left = a.coefficient * 10n ** BigInt(a.exponent - scale);
  const right = b.coefficient * 10n ** BigInt(b.exponent - scale);
  return left < right ? -1 : left > right ? 1 : 0;
}

/** A text equal for equal values and only for them (`"199e-1"` for 19.90): a set key. */
export function exactKey(value: ExactDecimal): string {
  return `${value.coefficient}e${value.exponent}`;
}
