import type { TaskPage } from './types'
import type { PageValidators } from './validators'

/** The server answered, but not with a usable task page. */
export class FetchError extends Error {
  constructor(
    /** The HTTP status (503 under a lock, 429 past a cap…). */
    readonly status: number | null,
    message: string,
    /** Seconds the server asked to wait before asking again (`Retry-After`), if it did. */
    readonly retryAfter: number | null = null,
    /** The URL asked. */
    readonly url = '',
  ) {
    super(message)
    this.name = 'FetchError'
  }
}

/** Seconds a `Retry-After` value asks to wait: a number of seconds, or an HTTP date (which
 * names its month: `Date.parse` alone would take "-5" for a year). */
export function retryAfterSeconds(header: string | null, now: number = Date.now()): number | null {
  const value = header?.trim() ?? ''
  if (/^\d+$/.test(value)) return Number(value)
  const date = /[a-z]{3}/i.test(value) ? Date.parse(value) : Number.NaN
  return Number.isNaN(date) ? null : Math.max(0, (date - now) / 1000)
}

/** Cookies go to the page's own origin; to another one (a `data-url` that the API lets read
 * with credentials, `OSIS_ASYNC_DOMAIN_LIST`) only when sent explicitly. */
export function credentialsFor(url: string): RequestCredentials {
  return new URL(url).origin === location.origin ? 'same-origin' : 'include'
}

/** What one request to the list endpoint brought. */
export interface PageAnswer {
  url: string
  page: TaskPage
  /** The task stream the server advertises (`Link: <…>; rel="osis-async-stream"`), absolute. */
  stream: string | null
}

export const STREAM_REL = 'osis-async-stream'

export function pageUrl(endpoint: string, limit: number, offset: number): string {
  const url = new URL(endpoint, document.baseURI)
  url.searchParams.set('limit', String(limit))
  url.searchParams.set('offset', String(offset))
  return url.toString()
}

/** The target of the first `Link` entry whose `rel` includes `rel`, resolved against `base`. */
export function linkTarget(header: string | null, rel: string, base: string): string | null {
  if (!header) return null
  for (const match of header.matchAll(/<([^>]*)>([^,<]*)/g)) {
    const rels = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(match[2] ?? '')
    const names = (rels?.[1] ?? rels?.[2] ?? '').toLowerCase().split(/\s+/)
    if (names.includes(rel)) {
      try {
        return new URL(match[1] ?? '', base).toString()
      } catch {
        return null
      }
    }
  }
  return null
}

function isTaskPage(body: unknown): body is TaskPage {
  if (typeof body !== 'object' || body === null) return false
  const page = body as Partial<TaskPage>
  return Array.isArray(page.results) && typeof page.count === 'number'
}

async function readPage(response: Response, url: string): Promise<TaskPage> {
  let body: unknown
  try {
    body = await response.json()
  } catch {
    throw new FetchError(response.status, 'Response is not JSON', null, url)
  }
  if (!isTaskPage(body)) {
    throw new FetchError(response.status, 'Response is not a task page', null, url)
  }
  return {
    count: body.count,
    pending_count: typeof body.pending_count === 'number' ? body.pending_count : 0,
    next: body.next ?? null,
    previous: body.previous ?? null,
    results: body.results,
  }
}

/**
 * Reads one page. With `validators`, asks only for a change since the last answer from the same
 * URL (`If-None-Match`), and gives that answer's page back on `304 Not Modified`.
 */
export async function fetchTaskPage(
  endpoint: string,
  limit: number,
  offset: number,
  signal?: AbortSignal,
  validators?: PageValidators,
  timeout = 0,
): Promise<PageAnswer> {
  const url = pageUrl(endpoint, limit, offset)
  const { signal: timed, timedOut, clear } = withTimeout(signal, timeout)
  try {
    return await askPage(url, timed, validators)
  } catch (error) {
    if (timedOut()) throw new FetchError(null, `no answer within ${timeout} s`, null, url)
    if (error instanceof FetchError || (error as Error | null)?.name === 'AbortError') throw error
    throw new FetchError(null, String(error), null, url)
  } finally {
    clear()
  }
}

/** `signal`, also aborted after `seconds` (none for 0). */
export function withTimeout(signal: AbortSignal | undefined, seconds: number) {
  if (!(seconds > 0)) return { signal, timedOut: () => false, clear: () => undefined }
  const controller = new AbortController()
  let expired = false
  const abort = (): void => controller.abort()
  signal?.addEventListener('abort', abort, { once: true })
  if (signal?.aborted) controller.abort()
  const timer = setTimeout(() => {
    expired = true
    controller.abort()
  }, seconds * 1000)
  return {
    signal: controller.signal,
    timedOut: () => expired,
    clear() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', abort)
    },
  }
}

async function askPage(url: string, signal: AbortSignal | undefined, validators?: PageValidators): Promise<PageAnswer> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  const etag = validators?.etag(url)
  if (etag !== undefined) headers['If-None-Match'] = etag
  const response = await fetch(url, {
    credentials: credentialsFor(url),
    // The widget keeps its own validators; the HTTP cache must neither answer nor add its own.
    cache: 'no-store',
    headers,
    signal,
  })
  const stream = linkTarget(response.headers.get('Link'), STREAM_REL, url)
  if (response.status === 304) {
    const kept = validators?.page(url)
    if (kept === undefined) throw new FetchError(304, 'Not Modified, but nothing was kept', null, url)
    return { url, page: kept, stream }
  }
  if (!response.ok) {
    const retryAfter = retryAfterSeconds(response.headers.get('Retry-After'))
    throw new FetchError(response.status, `HTTP ${response.status}`, retryAfter, url)
  }
  const page = await readPage(response, url)
  const newEtag = response.headers.get('ETag')
  if (validators && newEtag) validators.remember(url, newEtag, page)
  return { url, page, stream }
}
