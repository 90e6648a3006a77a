/** Settings of the nightly analytics that are the same everywhere (documented in docs/ANALYTICS.md). */

/** The RFM window when the execution input does not set one. */
export const DEFAULT_RFM_WINDOW_DAYS = 365;
/** k-means restarts (k-means++ seedings) per run; the lowest SSE wins. */
export const KMEANS_RESTARTS = 8;
/** The seed of k choice and k-means: the same rows give the same clusters. */
export const KMEANS_SEED = 42;
/** Members the silhouette of each k is computed on. */
export const SILHOUETTE_SAMPLE = 2000;
/**
 * Days a nightly run's own lake files (`analytics/runs/<runId>/`) are kept: the S3 lifecycle rule
 * `expire-runs` on AWS, `lake expire` locally. Results written back live with the profile.
 */
export const NIGHTLY_RUN_RETENTION_DAYS = 30;
