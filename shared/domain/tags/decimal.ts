/**
 * Exact decimal amounts for aggregates. A value is held as two integers, `units` and `micro`
 * (0 ≤ micro < 1,000,000), meaning `units + micro / 1e6`: money and other numbers are quantised
 * to 1e-6 once, when read from an event, and summed without floating-point error.
 *
 * Why two integers rather than one safe integer of micro-units: one safe integer caps a sum at
 * 9,007,199,254 units, which a car dealer selling in VND or IDR reaches in a handful of orders.
 * With a separate `units` integer a sum stays exact while |total| < 2^53 units (9.0e15).
 */

export const MICRO_PER_UNIT = 1_000_000;
const MICRO_BIG = 1_000_000n;

/** An amount's integer part may have at most this many digits (|amount| < 1e15 units). */
export const MAX_INTEGER_DIGITS = 15;
const MAX_UNITS_EXCLUSIVE = 1e15;

/** Where {@link parseDecimalInto} writes its result; reused to keep the hot loop allocation-free. */
export interface DecimalSlot {
  units: number;
  micro: number;
}

/** A fresh slot for {@link parseDecimalInto}. */
export function decimalSlot(): DecimalSlot {
  return { units: 0, micro: 0 };
}

/**
 * Reads a JSON number or a decimal string (`"19.90"`, `"-3"`, `"0007.5"`) into `out`, rounded to
 * six decimal places half away from zero. Strings take no sign other than a leading `-`, no
 * exponent, no spaces; numbers are read through their shortest decimal form (`0.1 + 0.2` is
 * `0.30000000000000004`, read as `0.3`). Returns false, leaving `out` unspecified, for anything
 * else and for amounts of 1e15 or more.
 */
export function parseDecimalInto(value: unknown, out: DecimalSlot): boolean {
  if (typeof value === 'number') return parseNumber(value, out);
  if (typeof value === 'string') return parseDecimalString(value, out, false);
  return false;
}

function parseNumber(value: number, out: DecimalSlot): boolean {
  if (!Number.isFinite(value)) return false;
  if (Number.isInteger(value)) {
    if (value >= MAX_UNITS_EXCLUSIVE || value <= -MAX_UNITS_EXCLUSIVE) return false;
    out.units = value + 0;
    out.micro = 0;
    return true;
  }
  if (value < 4e9 && value > -4e9) {
    // Below 4e9 doubles are closer than 1e-6 apart, so when m / 1e6 round-trips to the value, m
    // is exactly the value's shortest decimal form times 1e6 (no rounding needed).
    const m = Math.round(value * MICRO_PER_UNIT);
    if (m / MICRO_PER_UNIT === value) {
      const units = Math.floor(m / MICRO_PER_UNIT);
      out.units = units;
      out.micro = m - units * MICRO_PER_UNIT;
      return true;
    }
  }
  return parseDecimalString(String(value), out, true);
}

function parseDecimalString(text: string, out: DecimalSlot, allowExponent: boolean): boolean {
  const length = text.length;
  if (length === 0) return false;
  let i = 0;
  let negative = false;
  if (text.charCodeAt(0) === 45) {
    negative = true;
    i = 1;
  }
  if (allowExponent && text.indexOf('e') >= 0) {
    const expanded = expandExponent(text.slice(i));
    if (expanded === undefined) return false;
    return parseDecimalString(negative ? `-${expanded}` : expanded, out, false);
  }
  let units = 0;
  let integerDigits = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    units = units * 10 + (c - 48);
    if (units >= MAX_UNITS_EXCLUSIVE) return false;
    integerDigits += 1;
    i += 1;
  }
  if (integerDigits === 0) return false;
  let micro = 0;
  if (i < length) {
    if (text.charCodeAt(i) !== 46) return false;
    i += 1;
    if (i === length) return false;
    let fractionDigits = 0;
    let roundUp = false;
    while (i < length) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) return false;
      if (fractionDigits < 6) micro = micro * 10 + (c - 48);
      else if (fractionDigits === 6) roundUp = c >= 53;
      fractionDigits += 1;
      i += 1;
    }
    for (let pad = fractionDigits; pad < 6; pad += 1) micro *= 10;
    if (roundUp) {
      micro += 1;
      if (micro === MICRO_PER_UNIT) {
        micro = 0;
        units += 1;
        if (units >= MAX_UNITS_EXCLUSIVE) return false;
      }
    }
  }
  if (negative && (units !== 0 || micro !== 0)) {
    if (micro === 0) {
      units = -units;
    } else {
      units = -units - 1;
      micro = MICRO_PER_UNIT - micro;
    }
  }
  out.units = units;
  out.micro = micro;
  return true;
}

/** `"1.5e-7"` → `"0.00000015"`; `undefined` when the text is not a plain mantissa and exponent. */
function expandExponent(text: string): string | undefined {
  const match = /^(\d+)(?:\.(\d+))?e([+-]?\d+)$/.exec(text);
  if (!match) return undefined;
  const whole = match[1] ?? '';
  const fraction = match[2] ?? '';
  const exponent = Number(match[3]);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 400) return undefined;
  const digits = whole + fraction;
  const point = whole.length + exponent;
  if (point <= 0) return `0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return digits + '0'.repeat(point - digits.length);
  return `${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** The amount `units + micro / 1e6` as a count of micro-units. */
export function toMicro(units: number, micro: number): bigint {
  return BigInt(units) * MICRO_BIG + BigInt(micro);
}

/** Micro-units as the shortest decimal string: `1234500000n` → `"1234.5"`, `0n` → `"0"`. */
export function formatMicro(total: bigint): string {
  const negative = total < 0n;
  const magnitude = negative ? -total : total;
  const whole = magnitude / MICRO_BIG;
  const fraction = magnitude % MICRO_BIG;
  let text = whole.toString();
  if (fraction !== 0n) text += `.${fraction.toString().padStart(6, '0').replace(/0+$/, '')}`;
  return negative ? `-${text}` : text;
}

/** `numerator / denominator` (micro-units over a positive count) rounded half away from zero. */
export function divideMicro(numerator: bigint, denominator: bigint): bigint {
  const negative = numerator < 0n !== denominator < 0n;
  const n = numerator < 0n ? -numerator : numerator;
  const d = denominator < 0n ? -denominator : denominator;
  let quotient = n / d;
  if ((n % d) * 2n >= d) quotient += 1n;
  return negative ? -quotient : quotient;
}

/** Parses a decimal (number or string) to micro-units, or `undefined` when it does not fit. */
export function decimalToMicro(value: unknown): bigint | undefined {
  const slot = decimalSlot();
  return parseDecimalInto(value, slot) ? toMicro(slot.units, slot.micro) : undefined;
}
