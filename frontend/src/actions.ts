import { credentialsFor, withTimeout } from './api'

/**
 * Django's CSRF token for the widget's POSTs: the mount element's `data-csrf-token` when it has
 * one (a site whose CSRF cookie is HttpOnly or named otherwise), else the `csrftoken` cookie;
 * null without either.
 */
export function csrfToken(element?: HTMLElement | null, cookies: string = document.cookie): string | null {
  const given = element?.dataset.csrfToken?.trim()
  if (given) return given
  const value = /(?:^|;)\s*csrftoken=([^;]*)/.exec(cookies)?.[1]?.trim()
  try {
    return value ? decodeURIComponent(value) : null
  } catch {
    return value ?? null
  }
}

/**
 * POSTs to `path` (`<uuid>/cancel/`, `<uuid>/dismiss/`, `dismiss-finished/`), resolved against
 * the list endpoint `list`, with `X-CSRFToken: token` (none without a token) and the credentials
 * the list's GETs send; given up after `timeout` seconds (none for 0). Resolves with the answer,
 * whatever its status; rejects on a network failure, a timeout or `signal`.
 */
export async function postTask(
  list: string,
  path: string,
  token: string | null,
  timeout = 0,
  signal?: AbortSignal,
): Promise<Response> {
  const url = new URL(path, new URL(list, document.baseURI)).toString()
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (token) headers['X-CSRFToken'] = token
  const timed = withTimeout(signal, timeout)
  try {
    return await fetch(url, { method: 'POST', credentials: credentialsFor(url), headers, signal: timed.signal })
  } finally {
    timed.clear()
  }
}
