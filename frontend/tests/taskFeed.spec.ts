import { effectScope } from 'vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { REFRESH_EVENT, useTaskFeed } from '../src/taskFeed'
import { fakeEventSource, fakeFetch, jsonResponse, makePage, makeTask, servePages, setHidden, settle, STREAM_LINK, wait } from './helpers'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  setHidden(false)
})

afterEach(() => {
  setHidden(false)
  vi.useRealTimers()
})

const CONFIG = { url: '/api/tasks/', interval: 60, limit: 15, stream: true }

function feedInScope(onTransitions?: Parameters<typeof useTaskFeed>[1]) {
  const scope = effectScope()
  const feed = scope.run(() => useTaskFeed(CONFIG, onTransitions))!
  return { feed, scope }
}

describe('useTaskFeed', () => {
  it('shows the answer and what it says', async () => {
    const task = makeTask({ state: 'PROCESSING' })
    servePages(makePage([task], { next: 'more' }))
    const { feed, scope } = feedInScope()
    expect(feed.settled.value).toBe(false)
    feed.start()
    feed.start()
    await settle()
    expect(feed.tasks.value).toEqual([task])
    expect(feed.pendingCount.value).toBe(1)
    expect(feed.hasMore.value).toBe(true)
    expect(feed.settled.value).toBe(true)
    expect(feed.failed.value).toBe(false)
    expect(feed.updatedAt.value).toBe(Date.now())
    scope.stop()
  })

  it('reports the tasks that finished between two answers', async () => {
    const task = makeTask({ state: 'PROCESSING' })
    servePages(makePage([task]), makePage([{ ...task, state: 'DONE' }]))
    const onTransitions = vi.fn()
    const { feed, scope } = feedInScope(onTransitions)
    feed.start()
    await settle()
    expect(onTransitions).not.toHaveBeenCalled()
    await wait(5)
    expect(onTransitions.mock.calls).toEqual([[[{ ...task, state: 'DONE' }]]])
    scope.stop()
  })

  it('stops with its scope: no timer, no listener, no stream', async () => {
    const Sources = fakeEventSource()
    const calls = fakeFetch(() => jsonResponse(makePage([makeTask({ state: 'PROCESSING' })]), 200, STREAM_LINK))
    const { feed, scope } = feedInScope()
    feed.start()
    await settle()
    expect(Sources.open).toHaveLength(1)
    scope.stop()
    expect(Sources.open).toHaveLength(0)
    document.dispatchEvent(new CustomEvent(REFRESH_EVENT))
    setHidden(true)
    setHidden(false)
    await wait(600)
    expect(calls).toHaveLength(1)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('can be started again after stop', async () => {
    const calls = servePages(makePage([makeTask({ state: 'DONE' })]))
    const { feed, scope } = feedInScope()
    feed.start()
    await settle()
    feed.stop()
    document.dispatchEvent(new CustomEvent(REFRESH_EVENT))
    await settle()
    expect(calls).toHaveLength(1)
    feed.start()
    await settle()
    expect(calls).toHaveLength(2)
    document.dispatchEvent(new CustomEvent(REFRESH_EVENT))
    await settle()
    expect(calls).toHaveLength(3)
    await wait(60)
    expect(calls).toHaveLength(4)
    scope.stop()
  })

  it('started while the page is hidden, reads once and waits for it to show', async () => {
    setHidden(true)
    const calls = servePages(makePage([makeTask({ state: 'PROCESSING' })]))
    const { feed, scope } = feedInScope()
    feed.start()
    await wait(600)
    expect(calls).toHaveLength(1)
    setHidden(false)
    await settle()
    expect(calls).toHaveLength(2)
    await wait(5)
    expect(calls).toHaveLength(3)
    scope.stop()
  })
})
