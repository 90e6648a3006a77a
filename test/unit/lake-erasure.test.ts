import { describe, expect, it } from 'vitest';
import {
  eraseFromNdjson,
  memberPredicateSql,
  plainIdsOf,
  rowNamesAnyKey,
  UnreadableLakeFileError,
} from '../../shared/domain/analytics/lake-erasure.ts';

const keys = new Set(['u#ann', 'a#dev-9']);

describe('rowNamesAnyKey', () => {
  it.each([
    [{ memberKey: 'u#ann' }, true],
    [{ memberKey: 'a#dev-9' }, true],
    [{ userId: 'ann' }, true],
    [{ anonymousId: 'dev-9' }, true],
    [{ memberId: 'ann' }, true],
    [{ memberId: 'u#ann' }, true],
    [{ member_id: 'ann' }, true],
    [{ previousId: 'dev-9' }, true],
    // The kind of id matters: another member's anonymousId equal to this userId is not its row.
    [{ memberKey: 'a#ann', anonymousId: 'ann' }, false],
    [{ memberKey: 'u#dev-9', userId: 'dev-9' }, false],
    [{ memberKey: 'u#anne', userId: 'anne', properties: '{"friend":"ann"}' }, false],
    [{ userId: null, anonymousId: null }, false],
  ])('%j names the member: %s', (row, expected) => {
    expect(rowNamesAnyKey(row, keys)).toBe(expected);
  });
});

describe('eraseFromNdjson', () => {
  it('removes the member lines and keeps every other line byte for byte', () => {
    const text = '{"memberKey":"u#bob", "x":1}\n{"userId":"ann"}\n\n{"memberKey":"u#anne"}\n';
    expect(eraseFromNdjson(text, keys, 'f')).toEqual({
      kept: '{"memberKey":"u#bob", "x":1}\n\n{"memberKey":"u#anne"}\n',
      removed: 1,
    });
  });

  it('answers text without any of the ids unchanged, without parsing it', () => {
    expect(eraseFromNdjson('not json at all\n', keys, 'f')).toEqual({
      kept: 'not json at all\n',
      removed: 0,
    });
  });

  it('refuses a line that is not a JSON object once the ids may be in the file', () => {
    expect(() => eraseFromNdjson('{"userId":"bob"}\nann was here\n', keys, 'f')).toThrow(
      UnreadableLakeFileError,
    );
  });

  it('parses every line when an id could be escaped by a JSON writer', () => {
    expect(plainIdsOf(['u#张三'])).toBeUndefined();
    expect(plainIdsOf(['u#a"b'])).toBeUndefined();
    const text = `${JSON.stringify({ userId: '张三' })}\n${'{"userId":"\\u5f20\\u4e09"}'}\n{"userId":"李四"}\n`;
    expect(eraseFromNdjson(text, new Set(['u#张三']), 'f')).toEqual({
      kept: '{"userId":"李四"}\n',
      removed: 2,
    });
  });
});

describe('memberPredicateSql', () => {
  it('finds member columns in any case, as Parquet files name them in lower case', () => {
    const camel = memberPredicateSql(['memberKey', 'userId', 'event'], 'erase_keys');
    const lower = memberPredicateSql(['memberkey', 'userid', 'event'], 'erase_keys');
    expect(lower).not.toBe('FALSE');
    expect(lower).toBe(
      camel.replaceAll('"memberKey"', '"memberkey"').replaceAll('"userId"', '"userid"'),
    );
  });

  it('answers FALSE for a file with no member column', () => {
    expect(memberPredicateSql(['event', 'timestamp'], 'erase_keys')).toBe('FALSE');
  });
});
