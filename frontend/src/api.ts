import type { TaskPage } from './types'

/** The server answered, but not with a usable task page. */
export class FetchError extends Error {
  constructor(readonly status: number | null, message: string) {
    super(message)
    this.name = 'FetchError'
  }
}

export function pageUrl(endpoint: string, limit: number, offset: number): string {
  const url = new URL(endpoint, document.baseURI)
  url.searchParams.set('limit', String(limit))
  url.searchParams.set('offset', String(offset))
  return url.toString()
}

function isTaskPage(body: unknown): body is TaskPage {
  if (typeof body !== 'object' || body === null) return false
  const page = body as Partial<TaskPage>
  return Array.isArray(page.results) && typeof page.count === 'number'
}

export async function fetchTaskPage(
  endpoint: string,
  limit: number,
  offset: number,
  signal?: AbortSignal,
): Promise<TaskPage> {
  const response = await fetch(pageUrl(endpoint, limit, offset), {
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
    signal,
  })
  if (!response.ok) {
    throw new FetchError(response.status, `HTTP ${response.status}`)
  }
  let body: unknown
  try {
    body = await response.json()
  } catch {
    throw new FetchError(response.status, 'Response is not JSON')
  }
  if (!isTaskPage(body)) {
    throw new FetchError(response.status, 'Response is not a task page')
  }
  return {
    count: body.count,
    pending_count: typeof body.pending_count === 'number' ? body.pending_count : 0,
    next: body.next ?? null,
    previous: body.previous ?? null,
    results: body.results,
  }
}
