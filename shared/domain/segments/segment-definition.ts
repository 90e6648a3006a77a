/**
 * Segment definitions as data: the JSON format (docs/SEGMENTS.md), its limits, the compiled form
 * the evaluator reads, and the error every invalid definition raises.
 */
import type { Labels } from '../tags/rule-catalogue.ts';
import type { ExactDecimal } from './exact-decimal.ts';

/** What a segment is for; a member is served in a segment only with consent to its purpose. */
export const segmentPurposes = ['marketing', 'analytics', 'service', 'personalisation'] as const;
export type SegmentPurpose = (typeof segmentPurposes)[number];

export const segmentOps = [
  '=',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  'in',
  'not_in',
  'between',
  'exists',
  'not_exists',
  'contains',
] as const;
export type SegmentOp = (typeof segmentOps)[number];

/** The RFM fields a leaf can read: scores 1–5, the score text (`"555"`), the named segment, the 8-class scheme. */
export const rfmFields = ['r', 'f', 'm', 'score', 'segment', 'class8'] as const;
export type RfmField = (typeof rfmFields)[number];

/** The standard named RFM segments, as the nightly RFM job is expected to write them. */
export const rfmSegmentNames = [
  'champions',
  'loyal_customers',
  'potential_loyalists',
  'new_customers',
  'promising',
  'need_attention',
  'about_to_sleep',
  'at_risk',
  'cannot_lose_them',
  'hibernating',
  'lost',
] as const;

/** The classic 8-class scheme (R, F, M above or below their means), by its usual Chinese names. */
export const rfmClass8Names = [
  '重要价值客户',
  '重要发展客户',
  '重要保持客户',
  '重要挽留客户',
  '一般价值客户',
  '一般发展客户',
  '一般保持客户',
  '一般挽留客户',
] as const;

export const valueTiers = ['high', 'mid', 'low'] as const;
export type ValueTier = (typeof valueTiers)[number];

/** The tag the `userType` shortcut reads. */
export const userTypeTag = 'user_type';

/** Bounds on one definition, so a definition is cheap to store, evaluate and show. */
export const segmentLimits = {
  /** Nesting of expression nodes; the root expression is at depth 1. */
  maxDepth: 12,
  /** Expression nodes (combinators and leaves) in one definition. */
  maxNodes: 200,
  /** Values in one `in` / `not_in` list. */
  maxListValues: 1_000,
  /** Characters in a string constant, trait path or cluster id. */
  maxStringLength: 1_000,
  /** Characters in one label. */
  maxLabelLength: 200,
  /** Characters in the description. */
  maxDescriptionLength: 2_000,
} as const;

/** Segment ids: lower-case snake_case, 1–64 characters. */
export const segmentIdPattern = /^[a-z][a-z0-9_]{0,63}$/;

/** Stable machine codes of {@link SegmentDefinitionIssue}. */
export const segmentDefinitionErrorCodes = [
  /** A required field is absent (id, labels, a label, purpose, expression, op, value). */
  'missing_field',
  /** A field the format does not have, or one this kind of node does not take. */
  'unknown_field',
  /** A leaf names two operands, or a node is both a combinator and a leaf. */
  'conflicting_fields',
  /** A field has the wrong JSON type (labels that are not an object, `all` that is not an array). */
  'invalid_type',
  /** A field's value is not allowed: empty label, unknown purpose or RFM field, empty list, bad path, lo > hi. */
  'invalid_value',
  /** The segment id does not match {@link segmentIdPattern}. */
  'invalid_id',
  'unknown_operator',
  'unknown_tag',
  'unknown_aggregate',
  'unknown_segment',
  /** A constant the operand can never take: a value tag's or an RFM field's values, value tiers, user types. */
  'unknown_value',
  /** The op or the value does not fit the operand: `<` on a boolean tag, a string compared with a count. */
  'type_mismatch',
  'too_deep',
  'too_many_nodes',
  'too_many_values',
  'too_long',
  /** Segments read each other in a cycle (or a segment reads itself). */
  'cycle',
  /** Two definitions of one set have the same id. */
  'duplicate_id',
] as const;
export type SegmentDefinitionErrorCode = (typeof segmentDefinitionErrorCodes)[number];

export interface SegmentDefinitionIssue {
  /** Id of the segment at fault, when known. */
  readonly segment: string | undefined;
  /** JSON Pointer of the field at fault, e.g. `/expression/all/2/op` (`/3/expression/…` in a set). */
  readonly pointer: string;
  readonly code: SegmentDefinitionErrorCode;
  readonly message: string;
}

/** A definition (or set of definitions) that cannot be used; every issue points at its field. */
export class SegmentDefinitionError extends Error {
  readonly code = 'invalid_segment_definition';
  constructor(readonly issues: readonly SegmentDefinitionIssue[]) {
    super(
      `The segment definition is invalid (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n${issues
        .map(
          (issue) =>
            `- ${issue.segment === undefined ? '' : `segment "${issue.segment}", `}${issue.pointer || '/'}: ${issue.message} (${issue.code})`,
        )
        .join('\n')}`,
    );
    this.name = 'SegmentDefinitionError';
  }
}

// ---------------------------------------------------------------------------------------------
// The JSON format.

export type SegmentScalar = string | number | boolean;
export type SegmentConstant = SegmentScalar | readonly SegmentScalar[];

interface Comparison {
  readonly op: SegmentOp;
  readonly value?: SegmentConstant;
}

/** `{ "tag": id }` (the tag is set) or `{ "tag": id, "op", "value"? }` (its value compares). */
export type TagLeaf = { readonly tag: string } & Partial<Comparison>;
export type TraitLeaf = { readonly trait: string } & Comparison;
export type AggregateLeaf = { readonly aggregate: string } & Comparison;
export type RfmLeaf = { readonly rfm: RfmField } & Comparison;
/** `{ "valueTier": "high" }` (is), `{ "valueTier": ["high", "mid"] }` (one of), `op` to negate. */
export type ValueTierLeaf = {
  readonly valueTier: string | readonly string[];
  readonly op?: '=' | '!=' | 'in' | 'not_in';
};
export type UserTypeLeaf = {
  readonly userType: string | readonly string[];
  readonly op?: '=' | '!=' | 'in' | 'not_in';
};
export type ClusterLeaf = {
  readonly cluster: string | readonly string[];
  readonly op?: '=' | '!=' | 'in' | 'not_in';
};
/** Membership in another segment. */
export type SegmentLeaf = { readonly segment: string };

export type SegmentExpression =
  | { readonly all: readonly SegmentExpression[] }
  | { readonly any: readonly SegmentExpression[] }
  | { readonly not: SegmentExpression }
  | TagLeaf
  | TraitLeaf
  | AggregateLeaf
  | RfmLeaf
  | ValueTierLeaf
  | UserTypeLeaf
  | ClusterLeaf
  | SegmentLeaf;

export interface SegmentDefinition {
  readonly id: string;
  readonly labels: Labels;
  readonly purpose: SegmentPurpose;
  readonly description?: string;
  readonly expression: SegmentExpression;
}

// ---------------------------------------------------------------------------------------------
// Compiled form.

/**
 * What a leaf reads. `key` names the operand in reasons (`aggregate:orders_365d`, `rfm:r`,
 * `tag:user_type` for the `userType` shortcut); `field` is the profile field it depends on
 * (`trait:address` for the path `address.city`, `rfm` for every RFM field).
 */
export type CompiledOperand =
  | { readonly kind: 'tag'; readonly key: string; readonly field: string; readonly tag: string }
  | {
      readonly kind: 'trait';
      readonly key: string;
      readonly field: string;
      readonly path: readonly string[];
    }
  | {
      readonly kind: 'aggregate';
      readonly key: string;
      readonly field: string;
      readonly aggregate: string;
    }
  | { readonly kind: 'rfm'; readonly key: string; readonly field: 'rfm'; readonly rfm: RfmField }
  | { readonly kind: 'valueTier'; readonly key: 'valueTier'; readonly field: 'valueTier' }
  | { readonly kind: 'cluster'; readonly key: 'cluster'; readonly field: 'cluster' };

/** A number constant, held both ways: the number for a fast compare with numbers, the exact value for decimal strings. */
export interface CompiledNumber {
  readonly number: number;
  readonly exact: ExactDecimal;
}

/** The constant of a comparison, prepared for its op. */
export type CompiledTest =
  | { readonly kind: 'exists' }
  | { readonly kind: 'not_exists' }
  | {
      readonly kind: 'equal';
      readonly negate: boolean;
      readonly scalar: SegmentScalar;
      readonly number: CompiledNumber | undefined;
    }
  | {
      readonly kind: 'member';
      readonly negate: boolean;
      readonly strings: ReadonlySet<string>;
      readonly booleans: ReadonlySet<boolean>;
      readonly numbers: ReadonlySet<number>;
      /** {@link exactKey} of every number in the list, for decimal strings. */
      readonly exactKeys: ReadonlySet<string>;
    }
  | {
      readonly kind: 'order';
      readonly op: '<' | '<=' | '>' | '>=';
      readonly bound: CompiledNumber;
    }
  | { readonly kind: 'between'; readonly low: CompiledNumber; readonly high: CompiledNumber }
  | { readonly kind: 'contains'; readonly text: string };

export type CompiledExpression =
  | {
      readonly kind: 'all';
      readonly pointer: string;
      readonly nodes: readonly CompiledExpression[];
    }
  | {
      readonly kind: 'any';
      readonly pointer: string;
      readonly nodes: readonly CompiledExpression[];
    }
  | { readonly kind: 'not'; readonly pointer: string; readonly node: CompiledExpression }
  | {
      readonly kind: 'compare';
      readonly pointer: string;
      readonly operand: CompiledOperand;
      readonly op: SegmentOp;
      /** The constant as written (for reasons); `undefined` for exists / not_exists. */
      readonly value: SegmentConstant | undefined;
      readonly test: CompiledTest;
    }
  | {
      readonly kind: 'segment';
      readonly pointer: string;
      readonly segment: string;
      readonly key: string;
    };

/** A checked, compiled segment definition. Immutable. */
export interface CompiledSegment {
  readonly id: string;
  /** The definition as given (a copy). */
  readonly definition: SegmentDefinition;
  readonly expression: CompiledExpression;
  /** The profile fields the expression reads; see {@link dependenciesOf}. */
  readonly dependencies: ReadonlySet<string>;
  /** Ids of the segments the expression reads. */
  readonly segmentsRead: ReadonlySet<string>;
}
