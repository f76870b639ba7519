/** How many of the previous unit make the next one. */
const STEPS: [number, Intl.RelativeTimeFormatUnit][] = [
  [60, 'minute'],
  [60, 'hour'],
  [24, 'day'],
  [7, 'week'],
  [4.35, 'month'],
  [12, 'year'],
]

/** "2 minutes ago", "in 3 hours", "now", in the given locale. */
export function relativeTime(date: Date, now: number, locale: string): string {
  let amount = (date.getTime() - now) / 1000
  let unit: Intl.RelativeTimeFormatUnit = 'second'
  for (const [size, next] of STEPS) {
    if (Math.abs(amount) < size) break
    amount /= size
    unit = next
  }
  return new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }).format(Math.round(amount), unit)
}

export function absoluteTime(date: Date, locale: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(date)
}

export function parseDate(value: string | null | undefined): Date | null {
  if (!value) return null
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? null : date
}

/** Progress under which, or seconds since the start under which, time left is not guessed. */
export const TIME_LEFT_MIN_PERCENT = 5
export const TIME_LEFT_MIN_SECONDS = 10

/**
 * Seconds a processing task still needs at the pace it has gone so far, or `null` while that
 * guess is unreliable (under 5 %, or less than 10 s since the start).
 */
export function secondsLeft(startedAt: Date | null, progression: number, now: number): number | null {
  if (startedAt === null || !(progression >= TIME_LEFT_MIN_PERCENT) || progression >= 100) return null
  const elapsed = (now - startedAt.getTime()) / 1000
  if (elapsed < TIME_LEFT_MIN_SECONDS) return null
  return (elapsed * (100 - progression)) / progression
}

/** "3 minutes" of `Intl.RelativeTimeFormat`'s "in 3 minutes": the amount and unit alone. */
export function duration(seconds: number, locale: string): string {
  const parts = new Intl.RelativeTimeFormat(locale, { numeric: 'always' }).formatToParts(
    ...(roundedUnit(seconds) as [number, Intl.RelativeTimeFormatUnit]),
  )
  const first = parts.findIndex((part) => part.type === 'integer')
  return parts
    .slice(first)
    .map((part) => part.value)
    .join('')
    .trim()
}

function roundedUnit(seconds: number): [number, Intl.RelativeTimeFormatUnit] {
  let amount = seconds
  let unit: Intl.RelativeTimeFormatUnit = 'second'
  for (const [size, next] of STEPS) {
    if (Math.round(amount) < size) break
    amount /= size
    unit = next
  }
  return [Math.max(1, Math.round(amount)), unit]
}
