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
