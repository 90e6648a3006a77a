/**
 * The instant handlers call "now". On AWS it is always the system clock. The local runtime may
 * replace it (`startLocalRuntime({ clock })`) so tests and demos can move time forward and watch
 * windowed tags expire with no new event; handlers read it through `clock.now()` on every call.
 */
let current: () => number = Date.now;

export const clock = {
  now: (): number => current(),
};

/** Replaces the clock for this process (local runtime and tests only); returns the previous one. */
export function useClock(now: () => number): () => number {
  const previous = current;
  current = now;
  return previous;
}
