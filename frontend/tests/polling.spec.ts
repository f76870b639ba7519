import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Task, TaskPage } from '../src/types'
import { cleanUp, fakeFetch, jsonResponse, makePage, makeTask, mountViewer, open, servePages, setHidden, settle, text, wait } from './helpers'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  setHidden(false)
})

afterEach(() => {
  cleanUp()
  setHidden(false)
  vi.useRealTimers()
})

describe('polling', () => {
  it('refreshes every 5 seconds while a task is running', async () => {
    const calls = servePages(makePage([makeTask({ state: 'PROCESSING', progression: 5 })]))
    await mountViewer({ 'data-interval': '60' })
    expect(calls).toHaveLength(1)
    await wait(4.9)
    expect(calls).toHaveLength(1)
    await wait(0.1)
    expect(calls).toHaveLength(2)
    await wait(5)
    expect(calls).toHaveLength(3)
  })

  it('counts a pending task reported only by pending_count as running', async () => {
    const calls = servePages(makePage([makeTask({ state: 'DONE' })], { pending_count: 1 }))
    await mountViewer({ 'data-interval': '60' })
    await wait(5)
    expect(calls).toHaveLength(2)
  })

  it('refreshes every data-interval seconds when nothing runs', async () => {
    const calls = servePages(makePage([makeTask({ state: 'DONE' })]))
    await mountViewer({ 'data-interval': '60' })
    await wait(59)
    expect(calls).toHaveLength(1)
    await wait(1)
    expect(calls).toHaveLength(2)
  })

  it('waits 300 seconds by default', async () => {
    const calls = servePages(makePage([]))
    await mountViewer({ 'data-interval': 'soon' })
    await wait(299)
    expect(calls).toHaveLength(1)
    await wait(1)
    expect(calls).toHaveLength(2)
  })

  it('slows down once the last task has finished', async () => {
    const task = makeTask({ state: 'PROCESSING', progression: 50 })
    const calls = servePages(makePage([task]), makePage([{ ...task, state: 'DONE', progression: 100 }]))
    const { host } = await mountViewer({ 'data-interval': '60' })
    await wait(5)
    expect(calls).toHaveLength(2)
    expect(host.querySelector('.osis-async-progress--done')).not.toBeNull()
    await wait(55)
    expect(calls).toHaveLength(2)
    await wait(5)
    expect(calls).toHaveLength(3)
  })

  it('refreshes at once on the AsyncTasksViewer:fetchAsyncTasks event', async () => {
    const created = makeTask({ name: 'Just created', state: 'PENDING' })
    const calls = servePages(makePage([]), makePage([created]))
    const { host } = await mountViewer()
    expect(host.querySelector('.osis-async__badge')).toBeNull()

    document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))
    await settle()
    expect(calls).toHaveLength(2)
    expect(text(host.querySelector('.osis-async__badge'))).toBe('1')
    expect(text(host.querySelector('.osis-async-task__name'))).toBe('Just created')
  })

  it('stops polling once unmounted', async () => {
    const calls = servePages(makePage([makeTask({ state: 'PENDING' })]))
    const { viewer } = await mountViewer()
    viewer.unmount()
    await wait(600)
    document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))
    await settle()
    expect(calls).toHaveLength(1)
  })
})

describe('failures', () => {
  it('keeps the tasks, shows the error and retries after 5, 10, 20 seconds', async () => {
    const task = makeTask({ name: 'Still here', state: 'DONE' })
    const calls = servePages(makePage([task]), new TypeError('Failed to fetch'), 502, 503, makePage([task]))
    const { host } = await mountViewer({ 'data-interval': '30' })
    open(host)

    await wait(30)
    expect(calls).toHaveLength(2)
    expect(host.querySelector('.osis-async__message--error')).not.toBeNull()
    expect(text(host.querySelector('.osis-async-task__name'))).toBe('Still here')

    await wait(4.9)
    expect(calls).toHaveLength(2)
    await wait(0.1)
    expect(calls).toHaveLength(3)
    await wait(9.9)
    expect(calls).toHaveLength(3)
    await wait(0.1)
    expect(calls).toHaveLength(4)
    await wait(20)
    expect(calls).toHaveLength(5)

    expect(host.querySelector('.osis-async__message--error')).toBeNull()
    expect(text(host.querySelector('.osis-async-task__name'))).toBe('Still here')
    await wait(29)
    expect(calls).toHaveLength(5)
    await wait(1)
    expect(calls).toHaveLength(6)
  })

  it('caps the back-off at 5 minutes', async () => {
    const calls = servePages(500)
    await mountViewer({ 'data-interval': '30' })
    // 5 + 10 + 20 + 40 + 80 + 160 seconds, then 300 each time
    await wait(315)
    expect(calls).toHaveLength(7)
    await wait(299)
    expect(calls).toHaveLength(7)
    await wait(1)
    expect(calls).toHaveLength(8)
  })
})

describe('visibility', () => {
  it('does not poll while the page is hidden and refreshes when it shows again', async () => {
    const calls = servePages(makePage([makeTask({ state: 'PROCESSING' })]))
    await mountViewer()
    setHidden(true)
    await wait(60)
    expect(calls).toHaveLength(1)

    setHidden(false)
    await settle()
    expect(calls).toHaveLength(2)
    await wait(5)
    expect(calls).toHaveLength(3)
  })

  it('does not start the timer again after a refresh made while hidden', async () => {
    const calls = servePages(makePage([makeTask({ state: 'PROCESSING' })]))
    await mountViewer()
    setHidden(true)
    document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))
    await settle()
    expect(calls).toHaveLength(2)
    await wait(60)
    expect(calls).toHaveLength(2)
  })
})

describe('load more', () => {
  function tasks(count: number) {
    return Array.from({ length: count }, (_, index) => makeTask({ name: `Task #${index + 1}` }))
  }

  function paginate(all: ReturnType<typeof tasks>, maxLimit = Infinity) {
    return fakeFetch((url) => {
      const limit = Math.min(Number(url.searchParams.get('limit')), maxLimit)
      const offset = Number(url.searchParams.get('offset'))
      const end = offset + limit
      return jsonResponse(
        makePage(all.slice(offset, end), {
          count: all.length,
          next: end < all.length ? `/api/tasks/?limit=${limit}&offset=${end}` : null,
        }),
      )
    })
  }

  function names(host: HTMLElement): string[] {
    return [...host.querySelectorAll('.osis-async-task__name')].map((element) => text(element))
  }

  it('fetches the next page, appends it, and hides the button at the end', async () => {
    const all = tasks(12)
    const calls = paginate(all)
    const { host } = await mountViewer({ 'data-limit': '5' })
    open(host)
    await settle()
    expect(names(host)).toHaveLength(5)

    const more = () => host.querySelector<HTMLButtonElement>('.osis-async__more')
    expect(text(more())).toBe('Load more')
    more()!.click()
    await settle()
    expect(calls.at(-1)?.url.search).toBe('?limit=5&offset=5')
    expect(names(host)).toEqual(all.slice(0, 10).map((task) => task.name))

    more()!.click()
    await settle()
    expect(names(host)).toEqual(all.map((task) => task.name))
    expect(more()).toBeNull()
  })

  it('says it is loading while the next page comes', async () => {
    const all = tasks(4)
    let release: () => void = () => undefined
    fakeFetch((url) => {
      const offset = Number(url.searchParams.get('offset'))
      const page = makePage(all.slice(offset, offset + 2), { next: offset === 0 ? 'more' : null })
      if (offset === 0) return jsonResponse(page)
      return new Promise<Response>((resolve) => (release = () => resolve(jsonResponse(page))))
    })
    const { host } = await mountViewer({ 'data-limit': '2' })
    open(host)
    const more = host.querySelector<HTMLButtonElement>('.osis-async__more')!
    more.click()
    await settle()
    expect(text(more)).toBe('Loading…')
    expect(more.getAttribute('aria-disabled')).toBe('true')
    more.click()
    release()
    await settle()
    expect(names(host)).toHaveLength(4)
  })

  it('keeps every loaded page on later refreshes, without duplicates', async () => {
    const all: Task[] = tasks(8).map((task) => ({ ...task, state: 'PROCESSING' }))
    const calls = paginate(all)
    const { host } = await mountViewer({ 'data-limit': '3' })
    open(host)
    host.querySelector<HTMLButtonElement>('.osis-async__more')!.click()
    await settle()
    expect(names(host)).toHaveLength(6)

    // A new task appears at the top: the list shifts by one on the server.
    all.unshift({ ...makeTask({ name: 'Newest' }), state: 'PENDING' })
    await wait(5)
    expect(calls.at(-1)?.url.search).toBe('?limit=6&offset=0')
    expect(names(host)).toEqual(all.slice(0, 6).map((task) => task.name))

    host.querySelector<HTMLButtonElement>('.osis-async__more')!.click()
    await settle()
    expect(names(host)).toEqual(all.slice(0, 9).map((task) => task.name))
    expect(new Set(names(host)).size).toBe(9)
  })

  it('follows the next pages when the server caps the page size', async () => {
    const all = tasks(150)
    const calls = paginate(all, 40)
    const { host } = await mountViewer({ 'data-limit': '60' })
    expect(calls.map((call) => call.url.search)).toEqual(['?limit=60&offset=0', '?limit=20&offset=40'])
    expect(names(host)).toHaveLength(60)

    host.querySelector<HTMLButtonElement>('.osis-async__more')!.click()
    await settle()
    expect(names(host)).toHaveLength(100)

    calls.length = 0
    document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))
    await settle()
    expect(calls.map((call) => call.url.search)).toEqual([
      '?limit=100&offset=0',
      '?limit=80&offset=40',
      '?limit=40&offset=80',
    ])
    expect(names(host)).toEqual(all.slice(0, 120).map((task) => task.name))
  })

  it('stops following pages that bring nothing new', async () => {
    const same = makePage(tasks(2), { next: '/api/tasks/?limit=15&offset=2' })
    const calls = servePages(same)
    const { host } = await mountViewer()
    expect(calls).toHaveLength(2)
    expect(names(host)).toHaveLength(2)
  })

  it('keeps what it had when the next page fails', async () => {
    const all = tasks(4)
    fakeFetch((url) =>
      url.searchParams.get('offset') === '0'
        ? jsonResponse(makePage(all.slice(0, 2), { next: 'more' }))
        : jsonResponse({ detail: 'boom' }, 500),
    )
    const { host } = await mountViewer({ 'data-limit': '2' })
    open(host)
    host.querySelector<HTMLButtonElement>('.osis-async__more')!.click()
    await settle()
    expect(names(host)).toHaveLength(2)
    expect(host.querySelector('.osis-async__message--error')).not.toBeNull()
    expect(host.querySelector('.osis-async__more')).not.toBeNull()
  })
})

describe('overlapping refreshes', () => {
  it('never shows an older answer over a newer one', async () => {
    const task = makeTask({ name: 'Report', state: 'PROCESSING', progression: 10 })
    const pending: ((page: TaskPage) => void)[] = []
    fakeFetch(() => new Promise<Response>((resolve) => pending.push((page) => resolve(jsonResponse(page)))))
    const { host } = await mountViewer()

    document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))
    await settle()
    expect(pending).toHaveLength(2)

    pending[1]!(makePage([{ ...task, state: 'DONE', progression: 100 }]))
    await settle()
    pending[0]!(makePage([task]))
    await settle()

    expect(host.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')).toBe('100')
    expect(host.querySelector('.osis-async-progress--done')).not.toBeNull()
  })

  it('aborts the request it no longer needs', async () => {
    const signals: AbortSignal[] = []
    fakeFetch((_, init) => {
      signals.push(init.signal!)
      return new Promise<Response>(() => undefined)
    })
    await mountViewer()
    document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))
    await settle()
    expect(signals.map((signal) => signal.aborted)).toEqual([true, false])
  })
})
