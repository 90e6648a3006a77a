import { withDuckDb, duckdbLakeViewsSql } from './shared/adapters/duckdb-lake.ts';
import { duckdbShimSql } from './shared/jobs/rfm-job.ts';
await withDuckDb({}, async (c) => {
  await c.run(duckdbShimSql);
  for (const v of duckdbLakeViewsSql('/tmp/bench-lake-scale-O3L1kR/parquet', { ndjson: false, parquet: true })) await c.run(v);
  const time = async (label: string, sql: string) => { const t = performance.now(); const r = await c.runAndReadAll(sql); console.log(label, ((performance.now()-t)/1000).toFixed(2), String(r.getRows()[0]?.[0]).slice(0,80)); };
  await time('cast38', "select sum(CAST(revenue AS DECIMAL(38,6))) from lake_events_parquet where eventKey='order_completed'");
  await time('cast18', "select sum(CAST(revenue AS DECIMAL(18,6))) from lake_events_parquet where eventKey='order_completed'");
  await time('double', "select sum(CAST(revenue AS DOUBLE)) from lake_events_parquet where eventKey='order_completed'");
  await time('count', "select count(revenue) from lake_events_parquet where eventKey='order_completed'");
  await time('rownum', "select count(*) from (select row_number() over (partition by memberKey, messageId order by timestamp) rn from lake_events_parquet where eventKey='order_completed') where rn=1");
  await time('groupby', "select count(*) from (select memberKey, messageId from lake_events_parquet where eventKey='order_completed' group by all)");
});
