/**
 * The brand's consent configuration, typed, in one place: how the category names its consent
 * manager sends map to Portrait's purposes. Whether a purpose is granted for a member who never
 * said is per environment (`consentDefaults` in environments.ts).
 */
import {
  type ConsentCategoryMap,
  checkConsentCategories,
  defaultConsentCategories,
} from '../domain/consent/consent.ts';

/**
 * Category name (lower-case) → purposes. Add the brand's own names here, e.g. OneTrust's
 * `c0004: ['marketing']`; categories not listed are ignored.
 */
export const consentCategories: ConsentCategoryMap = {
  ...defaultConsentCategories,
};

const problems = checkConsentCategories(consentCategories);
if (problems.length > 0) {
  throw new Error(`shared/config/consent.ts is invalid: ${problems.join('; ')}`);
}
