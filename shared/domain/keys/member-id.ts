/** A member as the API shows it: its userId, or the anonymousId of a visitor never identified. */
export type MemberId = { readonly userId: string } | { readonly anonymousId: string };

/** The API's id of a member key (`u#<userId>` or `a#<anonymousId>`). */
export function memberIdOf(memberKey: string): MemberId {
  return memberKey.startsWith('a#')
    ? { anonymousId: memberKey.slice(2) }
    : { userId: memberKey.slice(2) };
}
