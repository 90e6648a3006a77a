/**
 * The default rule catalogue shipped with Portrait (`tags/catalogue.json`), checked and compiled.
 * Brands edit that file; docs/TAGS.md describes every rule.
 */
import catalogueJson from '../../../tags/catalogue.json' with { type: 'json' };
import { loadRuleCatalogue, type RuleCatalogue } from './rule-catalogue.ts';

/** The default catalogue as JSON, for tools and tests. */
export const defaultCatalogueJson: unknown = catalogueJson;

let loaded: RuleCatalogue | undefined;

/** The default catalogue, compiled once. */
export function defaultRuleCatalogue(): RuleCatalogue {
  loaded ??= loadRuleCatalogue(catalogueJson);
  return loaded;
}
