import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FetchError, fetchTaskPage, retryAfterSeconds } from '../src/api'
import { RETRY_AFTER_MAX } from '../src/taskFeed'
import {
  cleanUp,
  fakeEventSource,
  fakeFetch,
  type FakeEventSource,
  jsonResponse,
  makePage,
  makeTask,
  mountViewer,
  notModified,
  setHidden,
  settle,
  STREAM_LINK,
  wait,
} from './helpers'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  setHidden(false)
})

afterEach(() => {
  cleanUp()
  setHidden(false)
  vi.useRealTimers()
})

function ifNoneMatch(init: RequestInit): string | undefined {
  return (init.headers as Record<string, string>)['If-None-Match']
}

/** Answers `failures` in turn (a status, with `Retry-After` when given), then a task page. */
function failThenServe(...failures: [number, string?][]) {
  let index = 0
  return fakeFetch(() => {
    const failure = failures[index]
    index += 1
    if (failure === undefined) return jsonResponse(makePage([makeTask({ state: 'DONE' })]))
    const [status, retryAfter] = failure
    return jsonResponse({ detail: 'busy' }, status, retryAfter === undefined ? {} : { 'Retry-After': retryAfter })
  })
}

describe('credentials', () => {
  it('sends the cookies to its own origin only as same-origin', async () => {
    const calls = fakeFetch(() => jsonResponse(makePage([])))
    await mountViewer({ 'data-url': '/osis_async/tasks/' })
    expect(calls[0]!.init.credentials).toBe('same-origin')
  })

  it('includes them for a data-url on another origin, which must allow it (CORS)', async () => {
    const calls = fakeFetch(() => jsonResponse(makePage([])))
    const { host } = await mountViewer({ 'data-url': 'https://api.example.org/osis_async/tasks/' })
    expect(calls[0]!.url.origin).toBe('https://api.example.org')
    expect(calls[0]!.init.credentials).toBe('include')
    expect(host.querySelector('.osis-async__message--error')).toBeNull()
  })
})

describe('Retry-After', () => {
  it.each([
    ['30', 30],
    [' 0 ', 0],
    ['Thu, 01 Jan 2026 00:01:30 GMT', 90],
    ['Wed, 31 Dec 2025 23:00:00 GMT', 0],
    ['soon', null],
    ['-5', null],
    ['', null],
  ])('%j means %s seconds', (header, seconds) => {
    expect(retryAfterSeconds(header, Date.parse('2026-01-01T00:00:00Z'))).toBe(seconds)
  })

  it('is null when absent', () => {
    expect(retryAfterSeconds(null)).toBeNull()
  })

  it('is on the FetchError, with the status', async () => {
    fakeFetch(() => jsonResponse({ detail: 'locked' }, 503, { 'Retry-After': '12' }))
    const error = await fetchTaskPage('/api/tasks/', 15, 0).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(FetchError)
    expect(error).toMatchObject({ status: 503, retryAfter: 12 })
  })

  it('leaves retryAfter null on a failure without it', async () => {
    fakeFetch(() => jsonResponse({ detail: 'no' }, 500))
    const error = await fetchTaskPage('/api/tasks/', 15, 0).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ status: 500, retryAfter: null })
  })
})

describe('backing off as the server asks', () => {
  it('waits a 503 list\'s Retry-After before asking again, then polls as usual', async () => {
    const calls = failThenServe([503, '60'])
    const { host } = await mountViewer({ 'data-interval': '300' })
    expect(host.querySelector('.osis-async__message--error')).not.toBeNull()

    await wait(59.9)
    expect(calls).toHaveLength(1)
    await wait(0.1)
    expect(calls).toHaveLength(2)
    expect(host.querySelector('.osis-async__message--error')).toBeNull()
    await wait(299)
    expect(calls).toHaveLength(2)
    await wait(1)
    expect(calls).toHaveLength(3)
  })

  it('reads an HTTP date', async () => {
    vi.setSystemTime(Date.parse('2026-03-01T12:00:00Z'))
    const calls = failThenServe([503, 'Sun, 01 Mar 2026 12:00:45 GMT'])
    await mountViewer()
    await wait(44.9)
    expect(calls).toHaveLength(1)
    await wait(0.1)
    expect(calls).toHaveLength(2)
  })

  it('never waits less than its own back-off', async () => {
    const calls = failThenServe([500], [429, '1'], [503, '2'])
    await mountViewer()
    await wait(5)
    expect(calls).toHaveLength(2)
    // Second failure: 10 s of back-off, though the server asked for 1.
    await wait(9.9)
    expect(calls).toHaveLength(2)
    await wait(0.1)
    expect(calls).toHaveLength(3)
    await wait(20)
    expect(calls).toHaveLength(4)
  })

  it('counts 429 and 503 as failures, doubling the wait', async () => {
    const calls = failThenServe([429], [503], [429])
    await mountViewer()
    for (const [delay, count] of [[5, 2], [10, 3], [20, 4]] as const) {
      await wait(delay - 0.1)
      expect(calls).toHaveLength(count - 1)
      await wait(0.1)
      expect(calls).toHaveLength(count)
    }
  })

  it(`waits at most ${RETRY_AFTER_MAX} seconds, whatever the server says`, async () => {
    const calls = failThenServe([503, '86400'])
    await mountViewer()
    await wait(RETRY_AFTER_MAX - 1)
    expect(calls).toHaveLength(1)
    await wait(1)
    expect(calls).toHaveLength(2)
  })

  it('keeps the wait when the page shows again meanwhile', async () => {
    const calls = failThenServe([503, '120'])
    await mountViewer()
    setHidden(true)
    await wait(30)
    setHidden(false)
    await settle()
    expect(calls).toHaveLength(1)
    await wait(90)
    expect(calls).toHaveLength(2)
  })

  it('refreshes when the page shows again once the wait is over', async () => {
    const calls = failThenServe([503, '10'])
    await mountViewer()
    setHidden(true)
    await wait(30)
    expect(calls).toHaveLength(1)
    setHidden(false)
    await settle()
    expect(calls).toHaveLength(2)
  })

  it('applies to "load more" too', async () => {
    let more = 0
    const calls = fakeFetch((url) => {
      if (url.searchParams.get('offset') === '0') {
        return jsonResponse(makePage([makeTask({ state: 'DONE' })], { next: 'more' }))
      }
      more += 1
      return jsonResponse({ detail: 'busy' }, 503, { 'Retry-After': '40' })
    })
    const { host } = await mountViewer({ 'data-limit': '1', 'data-interval': '300' })
    host.querySelector<HTMLButtonElement>('.osis-async__toggle')!.click()
    await settle()
    host.querySelector<HTMLButtonElement>('.osis-async__more')!.click()
    await settle()
    expect(more).toBe(1)
    const before = calls.length
    await wait(39.9)
    expect(calls).toHaveLength(before)
    await wait(0.1)
    expect(calls).toHaveLength(before + 1)
  })
})

describe('a stream the server refuses (429 past its cap on open streams)', () => {
  let Sources: typeof FakeEventSource

  beforeEach(() => {
    Sources = fakeEventSource()
  })

  /** A list endpoint under ASGI with ETags; nothing changes, so every poll is answered 304. */
  function asgiServer() {
    const task = makeTask({ state: 'PROCESSING', progression: 30 })
    return fakeFetch((_, init) => {
      if (ifNoneMatch(init) === '"v1"') return notModified({ ETag: '"v1"', ...STREAM_LINK })
      return jsonResponse(makePage([task]), 200, { ETag: '"v1"', ...STREAM_LINK })
    })
  }

  it('polls conditionally when the stream fails before it is ever open', async () => {
    const calls = asgiServer()
    const { host } = await mountViewer({ 'data-interval': '60' })
    // EventSource reports a 429 (or any refusal) only as an error.
    Sources.open[0]!.emit('error')
    await settle()
    expect(calls).toHaveLength(1)

    for (const count of [2, 3, 4]) {
      await wait(5)
      expect(calls).toHaveLength(count)
      expect(ifNoneMatch(calls.at(-1)!.init)).toBe('"v1"')
      // Refused again at each reopening.
      for (const source of Sources.open) source.emit('error')
    }
    expect(host.querySelector('.osis-async__message--error')).toBeNull()
    expect(host.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')).toBe('30')
  })

  it('polls conditionally when an open stream fails, until it is open again', async () => {
    const calls = asgiServer()
    await mountViewer({ 'data-interval': '60' })
    Sources.open[0]!.emit('ready', { version: '1' })
    await settle()
    const whileOpen = calls.length
    await wait(30)
    expect(calls).toHaveLength(whileOpen)

    Sources.open[0]!.emit('error')
    await wait(5)
    expect(calls).toHaveLength(whileOpen + 1)
    expect(ifNoneMatch(calls.at(-1)!.init)).toBe('"v1"')
  })
})
