/**
 * The real data sets of `../shared/data/` (beside the repository root; see its README), for the
 * tests that check known facts about them. `PORTRAIT_SHARED_DATA` names another folder. A clone
 * with neither has no data: those tests are skipped, and say so, rather than failing on a
 * missing file.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const sharedDataDir =
  process.env.PORTRAIT_SHARED_DATA ??
  resolve(import.meta.dirname, '..', '..', '..', 'shared', 'data');

/** The path of a shared data file. */
export function sharedDataFile(name: string): string {
  return resolve(sharedDataDir, name);
}

/** Whether the shared data file is there; logs once when it is not, so a skip is visible. */
export function hasSharedData(name: string): boolean {
  const found = existsSync(sharedDataFile(name));
  if (!found) console.warn(`shared data ${sharedDataFile(name)} not found: its tests are skipped`);
  return found;
}
