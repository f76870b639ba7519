/**
 * Seconds to wait after `failures` failures in a row: `base` after the first, doubled at each
 * further one, never more than `max`; no wait before any failure. The one back-off of the widget:
 * the feed's retries (5 s doubling to 300 s) and the stream's reopenings (1 s doubling to 60 s).
 */
export function delayAfter(failures: number, base: number, max: number): number {
  return failures > 0 ? Math.min(base * 2 ** (failures - 1), max) : 0
}
