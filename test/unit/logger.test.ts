import { describe, expect, it } from 'vitest';
import { catalogueSchemas } from '../../events/catalogue.ts';
import { cataloguePersonalKeys } from '../../shared/domain/privacy/personal-fields.ts';
import { createLogger, isSensitiveKey, scrubText } from '../../shared/logging/logger.ts';

describe('logger', () => {
  it('writes one JSON object a line with level, message and fields', () => {
    const lines: string[] = [];
    createLogger({ service: 'collect', write: (l) => lines.push(l) }).info('collect', {
      accepted: 3,
    });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: 'INFO',
      service: 'collect',
      message: 'collect',
      accepted: 3,
    });
  });

  it('never writes keys, authorization headers or personal fields, however deep', () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l) });
    logger.error('failed', {
      headers: { authorization: 'Basic c2VjcmV0Og==' },
      writeKey: 'pk_dev_secret',
      event: {
        traits: { email: 'a@example.com', phone: '13800000000' },
        properties: { name: '张伟' },
      },
    });
    const text = lines.join('\n');
    for (const secret of [
      'c2VjcmV0Og==',
      'pk_dev_secret',
      'a@example.com',
      '13800000000',
      '张伟',
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  it('drops lines below the level', () => {
    const lines: string[] = [];
    createLogger({ level: 'warn', write: (l) => lines.push(l) }).info('quiet');
    expect(lines).toEqual([]);
  });

  it('redacts every personal field of the catalogue by its key, wherever it sits', () => {
    const keys = cataloguePersonalKeys();
    const pointers = catalogueSchemas().flatMap((listing) => listing.personalFields);
    expect(pointers.length).toBeGreaterThan(0);
    for (const pointer of pointers) {
      expect(keys.some((key) => pointer.endsWith(`/${key}`))).toBe(true);
    }
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l) });
    const secrets = keys.map((key, i) => `v${i}-${key}-${Math.random().toString(36).slice(2)}`);
    logger.warn('x', {
      nested: { deeper: Object.fromEntries(keys.map((key, i) => [key, secrets[i]])) },
      list: [Object.fromEntries(keys.map((key, i) => [key.toUpperCase(), secrets[i]]))],
    });
    for (const secret of secrets) expect(lines.join('\n')).not.toContain(secret);
  });

  it('treats credential keys in any spelling as sensitive, and ordinary keys as not', () => {
    for (const key of ['Authorization', 'x-api-key', 'write_key', 'WriteKey', 'first_name']) {
      expect(isSensitiveKey(key), key).toBe(true);
    }
    for (const key of ['memberKey', 'requestId', 'messageId', 'tags', 'sourceId']) {
      expect(isSensitiveKey(key), key).toBe(false);
    }
  });

  it('scrubs keys, credentials, e-mail addresses and phone numbers out of any text', () => {
    const key = 'pk_dev_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z';
    const text = scrubText(
      `key ${key} auth Bearer ${key} basic Basic YWJjOg== mail li.lei+x@mail.example.cn ` +
        'phones +86 138-0013-8000 and 13912345678 kept 2026-11-26T00:00:00+08:00 1764115200',
    );
    for (const leaked of [key, 'YWJjOg==', 'li.lei', '138-0013-8000', '13912345678']) {
      expect(text).not.toContain(leaked);
    }
    expect(text).toContain('2026-11-26T00:00:00+08:00');
    expect(text).toContain('1764115200');
  });

  it('keeps quoted values and parse snippets of errors out of the line', () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l) });
    let parseError: unknown;
    try {
      JSON.parse('{"name":"Han Meimei"');
    } catch (error) {
      parseError = error;
    }
    logger.error('failed', {
      parseError,
      refused: new Error('value "Li Lei, 1 Main St" is not allowed for field x'),
    });
    const text = lines.join('\n');
    expect(text).not.toContain('Han Meimei');
    expect(text).not.toContain('Li Lei');
    expect(text).toContain('is not allowed for field x');
  });
});
