import { describe, expect, it } from 'vitest';
import {
  generateWriteKey,
  hashWriteKey,
  writeKeyFromAuthorization,
} from '../../shared/domain/keys/write-key.ts';

const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;

describe('write keys', () => {
  it('reads the key from the Basic user name, with or without the empty password', () => {
    expect(writeKeyFromAuthorization(basic('pk_dev_abc:'))).toBe('pk_dev_abc');
    expect(writeKeyFromAuthorization(basic('pk_dev_abc'))).toBe('pk_dev_abc');
    expect(writeKeyFromAuthorization(`basic ${Buffer.from('k:').toString('base64')}`)).toBe('k');
  });

  it('finds no key in absent, empty or unknown-scheme headers', () => {
    expect(writeKeyFromAuthorization(undefined)).toBeUndefined();
    expect(writeKeyFromAuthorization('')).toBeUndefined();
    expect(writeKeyFromAuthorization(basic(':secret'))).toBeUndefined();
    expect(writeKeyFromAuthorization('Bearer ')).toBeUndefined();
    expect(writeKeyFromAuthorization('Bearer pk_dev_abc-1')).toBe('pk_dev_abc-1');
    expect(writeKeyFromAuthorization('Token abc')).toBeUndefined();
    expect(writeKeyFromAuthorization('Basic !!!')).toBeUndefined();
  });

  it('generates distinct keys whose stored form is a SHA-256 that is not the key', () => {
    const a = generateWriteKey('dev');
    const b = generateWriteKey('dev');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^pk_dev_[A-Za-z0-9_-]{32}$/);
    expect(hashWriteKey(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashWriteKey(a)).not.toContain(a);
    expect(hashWriteKey(a)).toBe(hashWriteKey(a));
  });
});
