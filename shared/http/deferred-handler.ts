/**
 * A Lambda handler whose dependencies load at cold start but may fail to (a KMS outage): the load
 * starts when the module loads, as a top-level `await` would, but a failure is answered per
 * request by `unavailable` (e.g. a JSON 503 with a stable code) and the load is tried again on
 * the next request, instead of the function failing to initialise (API Gateway's bare 502).
 * Failures `unavailable` does not answer (returns `undefined`) are thrown as they are.
 */
export function deferredHandler<E, C, R>(
  load: () => Promise<(event: E, context: C) => Promise<R>>,
  unavailable: (error: unknown, event: E) => R | undefined,
): (event: E, context: C) => Promise<R> {
  let loading: Promise<(event: E, context: C) => Promise<R>> | undefined;
  const start = () => {
    const attempt = load();
    loading = attempt;
    // A failed load is forgotten so the next request tries again.
    attempt.catch(() => {
      if (loading === attempt) loading = undefined;
    });
    return attempt;
  };
  // Handled above (a failure is kept for the first request); nothing else waits on it here.
  void start();
  return async (event, context) => {
    let handler: (event: E, context: C) => Promise<R>;
    try {
      handler = await (loading ?? start());
    } catch (error) {
      const answer = unavailable(error, event);
      if (answer === undefined) throw error;
      return answer;
    }
    return handler(event, context);
  };
}
