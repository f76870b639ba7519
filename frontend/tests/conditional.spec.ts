import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { linkTarget } from '../src/api'
import type { TaskPage } from '../src/types'
import { cleanUp, fakeFetch, jsonResponse, makePage, makeTask, mountViewer, notModified, open, settle, text, wait } from './helpers'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
})

afterEach(() => {
  cleanUp()
  vi.useRealTimers()
})

function ifNoneMatch(init: RequestInit): string | undefined {
  return (init.headers as Record<string, string>)['If-None-Match']
}

/** A list endpoint with ETags: `version` names the current state of each page. */
function conditionalServer(pages: () => TaskPage, version: () => string) {
  return fakeFetch((url, init) => {
    const etag = `"${version()}:${url.search}"`
    if (ifNoneMatch(init) === etag) return notModified({ ETag: etag })
    return jsonResponse(pages(), 200, { ETag: etag })
  })
}

function names(host: HTMLElement): string[] {
  return [...host.querySelectorAll('.osis-async-task__name')].map((element) => text(element))
}

describe('conditional polls', () => {
  it('sends back the ETag of the last answer, bypassing the HTTP cache', async () => {
    const calls = conditionalServer(() => makePage([makeTask({ state: 'PROCESSING' })]), () => 'v1')
    await mountViewer()
    expect(ifNoneMatch(calls[0]!.init)).toBeUndefined()
    expect(calls[0]!.init.cache).toBe('no-store')

    await wait(5)
    expect(calls).toHaveLength(2)
    expect(ifNoneMatch(calls[1]!.init)).toBe('"v1:?limit=15&offset=0"')
    expect(calls[1]!.init.cache).toBe('no-store')
  })

  it('keeps the list shown on 304, and keeps polling at the running pace', async () => {
    const running = makeTask({ name: 'Export', state: 'PROCESSING', progression: 40 })
    let version = 'v1'
    let page = makePage([running])
    const calls = conditionalServer(() => page, () => version)
    const { host } = await mountViewer({ 'data-interval': '60' })
    open(host)
    await settle()
    const bar = () => host.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')

    await wait(5)
    await wait(5)
    expect(calls).toHaveLength(3)
    expect(names(host)).toEqual(['Export'])
    expect(bar()).toBe('40')
    expect(host.querySelector('.osis-async__message--error')).toBeNull()
    expect(text(host.querySelector('.osis-async__badge'))).toBe('1')

    version = 'v2'
    page = makePage([{ ...running, progression: 70 }])
    await wait(5)
    expect(bar()).toBe('70')
    await wait(5)
    expect(ifNoneMatch(calls.at(-1)!.init)).toBe('"v2:?limit=15&offset=0"')
  })

  it('counts a 304 as a success after failures', async () => {
    const task = makeTask({ name: 'Kept', state: 'DONE' })
    let down = false
    const calls = fakeFetch((_, init) => {
      if (down) return jsonResponse({ detail: 'unavailable' }, 503)
      return ifNoneMatch(init) === '"a"' ? notModified() : jsonResponse(makePage([task]), 200, { ETag: '"a"' })
    })
    const { host } = await mountViewer({ 'data-interval': '30' })
    open(host)
    down = true
    await wait(30)
    expect(host.querySelector('.osis-async__message--error')).not.toBeNull()

    down = false
    await wait(5)
    expect(calls).toHaveLength(3)
    expect(host.querySelector('.osis-async__message--error')).toBeNull()
    expect(names(host)).toEqual(['Kept'])
    // Back to the normal pace, not the back-off's.
    await wait(29)
    expect(calls).toHaveLength(3)
    await wait(1)
    expect(calls).toHaveLength(4)
  })

  it('keeps one validator per page asked for', async () => {
    const all = Array.from({ length: 6 }, (_, index) => makeTask({ name: `Task #${index + 1}` }))
    const calls = fakeFetch((url, init) => {
      const etag = `"${url.search}"`
      if (ifNoneMatch(init) === etag) return notModified()
      const limit = Number(url.searchParams.get('limit'))
      const offset = Number(url.searchParams.get('offset'))
      const next = offset + limit < all.length ? 'more' : null
      return jsonResponse(makePage(all.slice(offset, offset + limit), { count: all.length, next }), 200, { ETag: etag })
    })
    const { host } = await mountViewer({ 'data-limit': '2' })
    open(host)
    host.querySelector<HTMLButtonElement>('.osis-async__more')!.click()
    await settle()
    expect(names(host)).toHaveLength(4)

    document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))
    await settle()
    expect(calls.at(-1)!.url.search).toBe('?limit=4&offset=0')
    expect(ifNoneMatch(calls.at(-1)!.init)).toBeUndefined()

    document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))
    await settle()
    expect(ifNoneMatch(calls.at(-1)!.init)).toBe('"?limit=4&offset=0"')
    expect(names(host)).toEqual(all.slice(0, 4).map((task) => task.name))
  })

  it('treats a 304 it did not ask for as a failure', async () => {
    fakeFetch(() => notModified())
    const { host } = await mountViewer()
    expect(host.querySelector('.osis-async__message--error')).not.toBeNull()
  })
})

describe('Link header', () => {
  const base = 'https://example.org/osis_async/tasks/?limit=15&offset=0'

  it.each([
    ['</osis_async/tasks/stream/>; rel="osis-async-stream"', 'https://example.org/osis_async/tasks/stream/'],
    ['<stream/>; rel=osis-async-stream', 'https://example.org/osis_async/tasks/stream/'],
    ['</docs>; rel="help", </s/>; title="x"; REL="alternate osis-async-stream"', 'https://example.org/s/'],
    ['</docs>; rel="help"', null],
    ['', null],
    ['<http://[bad>; rel="osis-async-stream"', null],
  ])('%j gives %s', (header, expected) => {
    expect(linkTarget(header, 'osis-async-stream', base)).toBe(expected)
  })

  it('is ignored when absent', () => {
    expect(linkTarget(null, 'osis-async-stream', base)).toBeNull()
  })
})
