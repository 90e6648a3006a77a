import type { RfmRow } from '../../shared/domain/analytics/contracts.ts';

/** An RFM row with ordinary values, overridden by `values` (tests build their own RFM output). */
export function rfmRow(memberId: string, values: Partial<RfmRow> = {}): RfmRow {
  return {
    memberId,
    lastOrderDate: '2026-11-01',
    firstOrderDate: '2026-01-01',
    recencyDays: 10,
    frequency: 2,
    monetary: '100.00',
    r: 3,
    f: 3,
    m: 3,
    score: '333',
    segment: 'need_attention',
    class8: '一般挽留客户',
    valueTier: 'mid',
    distinctProducts: 3,
    averageOrderValue: 50,
    tenureDays: 300,
    ...values,
  };
}
