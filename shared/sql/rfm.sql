-- RFM per member as of a brand-zone date, over a window of days ending on it (docs/RFM.md).
-- Written in the subset Athena (Trino) and DuckDB share; DuckDB gets one macro,
-- from_iso8601_timestamp, and reads the two lake tables as views over the local lake folder.
-- Parameters in double braces are checked and substituted by renderRfmSql (shared/jobs/rfm-job.ts).
-- Dates are DATE values, so date_diff('day', a, b) counts calendar days in both engines.
-- The lake is two tables (docs/LAKE.md): raw days as the archiver wrote them (gzip NDJSON) and
-- compacted days (Parquet). A day can be in both for a while (compacted while the archiver
-- wrote more, or a compaction that stopped before deleting its inputs); copies are dropped below.
-- Revenue is exact decimal text in NDJSON and DECIMAL(38, 6) in Parquet (cast once, when compacted).
WITH lake_events AS (
  SELECT messageId, userId, type, eventKey, orderId,
    CAST(revenue AS DECIMAL(38, 6)) AS revenue, currency, skus, "timestamp", dt
  FROM lake_events_ndjson
  WHERE dt BETWEEN '{{dt_from}}' AND '{{dt_to}}'
  UNION ALL
  SELECT messageId, userId, type, eventKey, orderId, revenue, currency, skus,
    "timestamp", dt
  FROM lake_events_parquet
  WHERE dt BETWEEN '{{dt_from}}' AND '{{dt_to}}'
),
order_events AS (
  SELECT
    messageId,
    userId,
    COALESCE(orderId, messageId) AS order_id,
    revenue,
    currency,
    skus,
    "timestamp" AS happened_at,
    CAST(from_iso8601_timestamp("timestamp") AT TIME ZONE '{{zone}}' AS DATE) AS order_date
  FROM lake_events
  -- dt is the UTC day; the brand zone's days straddle two of them.
  WHERE dt BETWEEN '{{dt_from}}' AND '{{dt_to}}'
    AND type = 'track'
    AND eventKey = 'order_completed'
    AND userId IS NOT NULL
),
distinct_orders AS (
  -- One row per order. An order sent twice under two messageIds counts once: its earliest event.
  -- This also drops the copies a replayed stream batch or a half-done compaction leaves: copies
  -- of a stored event are the same row (same userId, order, time and messageId), so a separate
  -- pass over (memberKey, messageId) would only repeat this one, at about a third of the cost.
  SELECT
    *,
    row_number() OVER (
      PARTITION BY userId, order_id ORDER BY happened_at, messageId
    ) AS order_copy
  FROM order_events
),
orders AS (
  SELECT userId AS member_id, order_id, revenue, currency, skus, order_date
  FROM distinct_orders
  WHERE order_copy = 1
    AND order_date BETWEEN DATE '{{window_start}}' AND DATE '{{as_of}}'
),
member_orders AS (
  SELECT
    member_id,
    max(order_date) AS last_order_date,
    min(order_date) AS first_order_date,
    count(*) AS frequency,
    -- Money in the brand currency (or none given), as the tag engine sums revenue.
    COALESCE(
      sum(
        CASE
          WHEN currency IS NULL OR currency = '{{currency}}'
            THEN revenue
        END
      ),
      CAST(0 AS DECIMAL(38, 6))
    ) AS monetary
  FROM orders
  GROUP BY member_id
),
member_products AS (
  SELECT o.member_id, count(DISTINCT p.sku) AS distinct_products
  FROM orders o
  CROSS JOIN UNNEST(o.skus) AS p (sku)
  GROUP BY o.member_id
),
measured AS (
  SELECT
    m.member_id,
    m.last_order_date,
    m.first_order_date,
    m.frequency,
    m.monetary,
    date_diff('day', m.last_order_date, DATE '{{as_of}}') AS recency_days,
    date_diff('day', m.first_order_date, DATE '{{as_of}}') AS tenure_days,
    COALESCE(p.distinct_products, 0) AS distinct_products
  FROM member_orders m
  LEFT JOIN member_products p ON p.member_id = m.member_id
),
ranked AS (
  -- rank(): tied values share the rank of the first of them, so ties get one score.
  SELECT
    *,
    rank() OVER (ORDER BY recency_days DESC) AS r_rank,
    rank() OVER (ORDER BY frequency ASC) AS f_rank,
    rank() OVER (ORDER BY monetary ASC) AS m_rank,
    count(*) OVER () AS members,
    sum(recency_days) OVER () AS recency_total,
    sum(frequency) OVER () AS frequency_total,
    sum(monetary) OVER () AS monetary_total
  FROM measured
),
scored AS (
  -- Score = 1 + floor(5 × (rank − 1) / members): the quintile of the first member of a tie.
  SELECT
    *,
    CAST(floor(5 * (r_rank - 1) / members) AS INTEGER) + 1 AS r,
    CAST(floor(5 * (f_rank - 1) / members) AS INTEGER) + 1 AS f,
    CAST(floor(5 * (m_rank - 1) / members) AS INTEGER) + 1 AS m,
    -- Above the mean, compared exactly (value × members against the total).
    recency_days * members < recency_total AS r_high,
    frequency * members > frequency_total AS f_high,
    monetary * members > monetary_total AS m_high
  FROM ranked
),
graded AS (
  SELECT
    *,
    CAST(floor((f + m) / 2) AS INTEGER) AS fm
  FROM scored
)
SELECT
  member_id,
  CAST(last_order_date AS VARCHAR) AS last_order_date,
  CAST(first_order_date AS VARCHAR) AS first_order_date,
  recency_days,
  frequency,
  CAST(monetary AS VARCHAR) AS monetary,
  r,
  f,
  m,
  CAST(r AS VARCHAR) || CAST(f AS VARCHAR) || CAST(m AS VARCHAR) AS score,
  {{segment_case}} AS segment,
  CASE
    WHEN m_high AND r_high AND f_high THEN '重要价值客户'
    WHEN m_high AND r_high THEN '重要发展客户'
    WHEN m_high AND f_high THEN '重要保持客户'
    WHEN m_high THEN '重要挽留客户'
    WHEN r_high AND f_high THEN '一般价值客户'
    WHEN r_high THEN '一般发展客户'
    WHEN f_high THEN '一般保持客户'
    ELSE '一般挽留客户'
  END AS class8,
  CASE WHEN m = 5 THEN 'high' WHEN m >= 3 THEN 'mid' ELSE 'low' END AS value_tier,
  distinct_products,
  CAST(monetary AS DOUBLE) / frequency AS average_order_value,
  tenure_days
FROM graded
ORDER BY member_id
