/** The formats of a segment export and how one member is written in each. */

export const exportFormats = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof exportFormats)[number];

/** Content types of the formats (the charset is UTF-8 for both). */
export const exportContentTypes: Readonly<Record<ExportFormat, string>> = {
  ndjson: 'application/x-ndjson',
  csv: 'text/csv; charset=utf-8',
};

/** The CSV header row (RFC 4180 lines end with CRLF). */
export const CSV_HEADER = 'member_type,member_id,since\r\n';

/** A member row as stored: the member key (`u#<userId>` or `a#<anonymousId>`) and entry time. */
export interface ExportedMember {
  readonly memberKey: string;
  /** Epoch ms. */
  readonly since: number;
}

/**
 * An RFC 4180 field: quoted when it holds a comma, a double quote, CR or LF, with quotes doubled;
 * otherwise as is (any other Unicode passes through).
 */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One member as a line of the format, newline included. */
export function exportLine(format: ExportFormat, member: ExportedMember): string {
  const anonymous = member.memberKey.startsWith('a#');
  const id = member.memberKey.slice(2);
  const since = new Date(member.since).toISOString();
  if (format === 'csv') {
    return `${anonymous ? 'anonymous' : 'user'},${csvField(id)},${since}\r\n`;
  }
  return `${JSON.stringify(anonymous ? { anonymousId: id, since } : { userId: id, since })}\n`;
}
