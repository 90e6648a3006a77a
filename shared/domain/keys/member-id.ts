import { ERASED_KEY_PREFIX } from '../privacy/erasure.ts';

/**
 * A member as the API shows it: its userId, or the anonymousId of a visitor never identified;
 * in a segment's ledger, an erased member by its pseudonym (docs/PRIVACY.md).
 */
export type MemberId =
  | { readonly userId: string }
  | { readonly anonymousId: string }
  | { readonly erased: string };

/** The API's id of a member key (`u#<userId>`, `a#<anonymousId>` or `e#<pseudonym>`). */
export function memberIdOf(memberKey: string): MemberId {
  if (memberKey.startsWith(ERASED_KEY_PREFIX)) {
    return { erased: memberKey.slice(ERASED_KEY_PREFIX.length) };
  }
  return memberKey.startsWith('a#')
    ? { anonymousId: memberKey.slice(2) }
    : { userId: memberKey.slice(2) };
}
