import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Task, TaskPage } from '../src/types'
import { cleanUp, fakeEventSource, fakeFetch, jsonResponse, makePage, makeTask, mountViewer, setHidden, settle, STREAM_LINK, STREAM_URL, type FakeEventSource, wait } from './helpers'

let Sources: typeof FakeEventSource

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  setHidden(false)
  Sources = fakeEventSource()
})

afterEach(() => {
  cleanUp()
  setHidden(false)
  vi.useRealTimers()
})

/** A list endpoint under ASGI: every answer advertises the stream, unless `link` is false. */
function asgiServer(task: Task, { link = true, status = (): number => 200 } = {}) {
  const server = { task, link, status }
  const calls = fakeFetch(() => {
    const status = server.status()
    if (status !== 200) return jsonResponse({ detail: 'no' }, status)
    return jsonResponse(makePage([server.task]), 200, server.link ? STREAM_LINK : {})
  })
  return { server, calls }
}

function progress(host: HTMLElement): string | null | undefined {
  return host.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')
}

/** The one open stream, after the server said `ready`. */
async function readyStream(): Promise<FakeEventSource> {
  expect(Sources.open).toHaveLength(1)
  const source = Sources.open[0]!
  source.emit('ready', { version: '1:a' })
  await settle()
  return source
}

describe('the task stream', () => {
  it('opens when the list advertises it, and shows a change at once', async () => {
    const running = makeTask({ state: 'PROCESSING', progression: 10 })
    const { server, calls } = asgiServer(running)
    const { host } = await mountViewer({ 'data-interval': '60' })
    expect(Sources.instances).toHaveLength(1)
    expect(Sources.instances[0]!.url).toBe(STREAM_URL)
    expect(Sources.instances[0]!.withCredentials).toBe(false)

    const source = await readyStream()
    expect(calls).toHaveLength(2)

    server.task = { ...running, progression: 55 }
    source.emit('changed', { version: '1:b' })
    await settle()
    expect(calls).toHaveLength(3)
    expect(progress(host)).toBe('55')
  })

  it('does not poll while the stream is open, even with a task running', async () => {
    const { calls } = asgiServer(makeTask({ state: 'PROCESSING', progression: 10 }))
    await mountViewer({ 'data-interval': '60' })
    await readyStream()
    const afterReady = calls.length

    await wait(3600)
    expect(calls).toHaveLength(afterReady)
  })

  it('refreshes once more for changes announced during a request, never dropping the last one', async () => {
    const running = makeTask({ state: 'PROCESSING', progression: 10 })
    const answers: ((page: TaskPage) => void)[] = []
    const calls = fakeFetch(
      () => new Promise<Response>((resolve) => answers.push((page) => resolve(jsonResponse(page, 200, STREAM_LINK)))),
    )
    const { host } = await mountViewer()
    answers[0]!(makePage([running]))
    await settle()
    const source = await readyStream()
    expect(calls).toHaveLength(2)

    for (const value of [20, 30, 40]) source.emit('changed', { version: String(value) })
    await settle()
    expect(calls).toHaveLength(2)
    answers[1]!(makePage([{ ...running, progression: 20 }]))
    await settle()
    expect(progress(host)).toBe('20')
    expect(calls).toHaveLength(3)
    answers[2]!(makePage([{ ...running, progression: 40 }]))
    await settle()
    expect(progress(host)).toBe('40')
    expect(calls).toHaveLength(3)
  })

  it('falls back to polling on error and reopens after 1, 2, 4 seconds', async () => {
    const { calls } = asgiServer(makeTask({ state: 'PROCESSING', progression: 10 }))
    await mountViewer({ 'data-interval': '60' })
    await readyStream()
    const before = calls.length

    Sources.open[0]!.emit('error')
    expect(Sources.open).toHaveLength(0)
    await wait(0.9)
    expect(Sources.instances).toHaveLength(1)
    await wait(0.1)
    expect(Sources.instances).toHaveLength(2)

    Sources.open[0]!.emit('error')
    await wait(1.9)
    expect(Sources.instances).toHaveLength(2)
    await wait(0.1)
    expect(Sources.instances).toHaveLength(3)

    Sources.open[0]!.emit('error')
    await wait(3.9)
    expect(Sources.instances).toHaveLength(3)
    // Meanwhile the running task is polled for every 5 seconds.
    await wait(0.1)
    expect(calls).toHaveLength(before + 1)
    expect(Sources.instances).toHaveLength(4)

    // Once open again, the back-off starts over.
    await readyStream()
    Sources.open[0]!.emit('error')
    await wait(1)
    expect(Sources.instances).toHaveLength(5)
  })

  it('caps the wait before reopening at a minute', async () => {
    asgiServer(makeTask({ state: 'DONE' }))
    await mountViewer()
    for (const delay of [1, 2, 4, 8, 16, 32, 60, 60]) {
      const count = Sources.instances.length
      Sources.open[0]!.emit('error')
      await wait(delay - 0.5)
      expect(Sources.instances).toHaveLength(count)
      await wait(0.5)
      expect(Sources.instances).toHaveLength(count + 1)
    }
  })

  it('comes back after a server shutdown with back-off, and after reconnect in 2 seconds', async () => {
    asgiServer(makeTask({ state: 'DONE' }))
    await mountViewer()
    await readyStream()

    Sources.open[0]!.emit('shutdown')
    expect(Sources.open).toHaveLength(0)
    await wait(1)
    expect(Sources.instances).toHaveLength(2)
    await readyStream()

    Sources.open[0]!.emit('reconnect')
    expect(Sources.open).toHaveLength(0)
    await wait(1.9)
    expect(Sources.instances).toHaveLength(2)
    await wait(0.1)
    expect(Sources.instances).toHaveLength(3)
  })

  it('refreshes on reopening only when the list changed while the stream was closed', async () => {
    const { calls } = asgiServer(makeTask({ state: 'DONE' }))
    await mountViewer()
    await readyStream()
    const afterFirst = calls.length

    Sources.open[0]!.emit('reconnect')
    await wait(2)
    Sources.open[0]!.emit('ready', { version: '1:a' })
    await settle()
    expect(calls).toHaveLength(afterFirst)

    Sources.open[0]!.emit('reconnect')
    await wait(2)
    Sources.open[0]!.emit('ready', { version: '2:b' })
    await settle()
    expect(calls).toHaveLength(afterFirst + 1)
  })

  it('is not opened when the list does not advertise it (WSGI)', async () => {
    const { calls } = asgiServer(makeTask({ state: 'PROCESSING' }), { link: false })
    await mountViewer({ 'data-interval': '60' })
    await wait(5)
    expect(Sources.instances).toHaveLength(0)
    expect(calls).toHaveLength(2)
  })

  it('is closed when the list stops advertising it', async () => {
    const { server } = asgiServer(makeTask({ state: 'DONE' }))
    await mountViewer()
    await readyStream()
    server.link = false
    document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))
    await settle()
    expect(Sources.open).toHaveLength(0)
  })

  it('is not opened on another origin, where the session cookie would not go', async () => {
    fakeFetch(() =>
      jsonResponse(makePage([]), 200, { Link: '<https://elsewhere.example/stream/>; rel="osis-async-stream"' }),
    )
    await mountViewer()
    expect(Sources.instances).toHaveLength(0)
  })

  it('is not opened with data-stream="false"', async () => {
    const { calls } = asgiServer(makeTask({ state: 'PROCESSING' }))
    await mountViewer({ 'data-stream': 'false' })
    await wait(5)
    expect(Sources.instances).toHaveLength(0)
    expect(calls).toHaveLength(2)
  })

  it('is not needed by browsers without EventSource', async () => {
    vi.stubGlobal('EventSource', undefined)
    const { calls } = asgiServer(makeTask({ state: 'PROCESSING' }))
    const { host } = await mountViewer()
    await wait(5)
    expect(calls).toHaveLength(2)
    expect(host.querySelector('.osis-async__message--error')).toBeNull()
  })

  it('closes while the page is hidden and opens again when it shows', async () => {
    const { calls } = asgiServer(makeTask({ state: 'PROCESSING' }))
    await mountViewer()
    await readyStream()

    setHidden(true)
    expect(Sources.open).toHaveLength(0)
    const whileHidden = calls.length
    await wait(120)
    expect(Sources.instances).toHaveLength(1)
    expect(calls).toHaveLength(whileHidden)

    setHidden(false)
    await settle()
    expect(Sources.open).toHaveLength(1)
    expect(Sources.instances).toHaveLength(2)
    expect(calls.length).toBeGreaterThan(whileHidden)
  })

  it('stays closed after logout until the list answers and advertises it again', async () => {
    let status = 200
    const { calls } = asgiServer(makeTask({ state: 'PROCESSING' }), { status: () => status })
    const { host } = await mountViewer()
    await readyStream()

    status = 403
    Sources.open[0]!.emit('logout')
    expect(Sources.open).toHaveLength(0)
    await wait(5)
    expect(host.querySelector('[role="progressbar"]')).not.toBeNull()
    await wait(120)
    expect(Sources.instances).toHaveLength(1)

    // Signed out: said so, and nothing more is asked by itself.
    expect(host.querySelector('.osis-async__panel')?.textContent).toContain('Sign in to see your tasks.')
    const asked = calls.length
    await wait(600)
    expect(calls).toHaveLength(asked)

    // Signed in again (in another tab): the next successful answer brings the stream back.
    status = 200
    const polls = calls.length
    document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))
    await settle()
    expect(calls).toHaveLength(polls + 1)
    expect(Sources.open).toHaveLength(1)
    expect(host.querySelector('.osis-async__panel')?.textContent).not.toContain('Sign in')
  })

  it('is shared by the viewers of a page, and closed when the last one goes', async () => {
    const running = makeTask({ state: 'PROCESSING', progression: 10 })
    const { server } = asgiServer(running)
    const first = await mountViewer()
    const second = await mountViewer()
    expect(Sources.instances).toHaveLength(1)
    const source = await readyStream()

    server.task = { ...running, progression: 90 }
    source.emit('changed')
    await settle()
    expect(progress(first.host)).toBe('90')
    expect(progress(second.host)).toBe('90')

    first.viewer.unmount()
    expect(source.closed).toBe(false)
    second.viewer.unmount()
    expect(source.closed).toBe(true)
  })
})
