import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PortraitEvent } from '../../../events/envelope.ts';
import {
  keyCipher,
  loadOrCreateLocalKey,
  UndecryptableTokenError,
} from '../../../shared/adapters/personal-data-cipher.ts';
import {
  ENCRYPTED_PREFIX,
  HASHED_PREFIX,
  hashInput,
  protectEvent,
  revealPersonal,
} from '../../../shared/domain/privacy/protect-personal.ts';

const dir = mkdtempSync(join(tmpdir(), 'portrait-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const key = Buffer.alloc(32, 7);
const cipher = keyCipher(key, 'local');
const event = {
  messageId: 'm1',
  type: 'identify',
  userId: 'u1',
  timestamp: '2026-11-01T00:00:00.000Z',
  receivedAt: '2026-11-01T00:00:00.000Z',
  sourceId: 's',
  traits: {
    email: 'Li.Lei@Example.cn',
    phone: '+8613800000000',
    address: { street: '1 Nanjing Rd', city: 'Shanghai' },
    city: 'Shanghai',
    contact: { mobile: '13900000000' },
  },
} as unknown as PortraitEvent;
const traitsOf = (e: PortraitEvent) => (e as unknown as { traits: Record<string, unknown> }).traits;

describe('personal fields at rest', () => {
  it('encrypts every personal field by default, keeps the rest, and reveals them again', () => {
    const stored = protectEvent(event, cipher, {});
    const traits = traitsOf(stored);
    expect(traits.city).toBe('Shanghai');
    for (const value of [traits.email, traits.phone, traits.address]) {
      expect(String(value).startsWith(ENCRYPTED_PREFIX)).toBe(true);
    }
    expect(JSON.stringify(stored)).not.toMatch(/Li\.Lei|8613800000000|Nanjing|13900000000/);
    expect(revealPersonal(traits as never, cipher)).toEqual(traitsOf(event));
    // Equal values give equal tokens (a redelivered event stores the same content).
    expect(protectEvent(event, cipher, {})).toEqual(stored);
    // Protecting twice changes nothing (tokens are not wrapped again).
    expect(protectEvent(stored, cipher, {})).toEqual(stored);
  });

  it('hashes or keeps fields as configured; hashes are salted per environment', () => {
    const stored = traitsOf(protectEvent(event, cipher, { email: 'hash', Phone: 'plain' }));
    expect(stored.phone).toBe('+8613800000000');
    expect(stored.email).toBe(`${HASHED_PREFIX}${cipher.hash(hashInput('li.lei@example.cn '))}`);
    const prod = traitsOf(protectEvent(event, keyCipher(key, 'prod'), { email: 'hash' }));
    expect(prod.email).not.toBe(stored.email);
    expect(revealPersonal(stored.email as string, cipher)).toBe(stored.email);
  });

  it('refuses tokens made with another key', () => {
    const token = cipher.encrypt('"x"');
    expect(() => keyCipher(Buffer.alloc(32, 8), 'local').decrypt(token)).toThrow(
      UndecryptableTokenError,
    );
  });

  it('makes the local key file once, readable by its owner only', () => {
    const file = join(dir, 'data', 'personal-data.key');
    const first = loadOrCreateLocalKey(file);
    expect(first).toHaveLength(32);
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(loadOrCreateLocalKey(file).equals(first)).toBe(true);
  });

  it('keeps fields the catalogue declares not personal, such as a product name', () => {
    const order = {
      ...event,
      type: 'track',
      event: 'Product Viewed',
      traits: undefined,
      properties: { sku: 's1', name: 'Blue Mug', contact: { name: 'Han Meimei' } },
    } as unknown as PortraitEvent;
    const stored = protectEvent(order, cipher, {}) as unknown as {
      properties: { name: string; contact: { name: string } };
    };
    expect(stored.properties.name).toBe('Blue Mug');
    expect(stored.properties.contact.name.startsWith(ENCRYPTED_PREFIX)).toBe(true);
  });
});
