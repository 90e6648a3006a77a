import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging/logger.ts';

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
});
