import { readFileSync } from 'node:fs';
import { defaultRuleCatalogue } from '../domain/tags/default-catalogue.ts';
import {
  loadRuleCatalogue,
  type RuleCatalogue,
  RuleCatalogueError,
} from '../domain/tags/rule-catalogue.ts';

/**
 * The rule catalogue a process runs with: the file named by `PORTRAIT_TAG_CATALOGUE` (JSON), or
 * the shipped `tags/catalogue.json`. Loaded at cold start, so a malformed file stops the process
 * before it touches a profile, with every issue naming the rule and field.
 */
export function configuredRuleCatalogue(file: string | undefined): RuleCatalogue {
  if (file === undefined) return defaultRuleCatalogue();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new RuleCatalogueError([
      { rule: undefined, path: '', message: `cannot read ${file}: ${(error as Error).message}` },
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new RuleCatalogueError([
      { rule: undefined, path: '', message: `${file} is not JSON: ${(error as Error).message}` },
    ]);
  }
  return loadRuleCatalogue(json);
}
