import { effectScope, nextTick } from 'vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useDocumentVisibility } from '../src/composables/useDocumentVisibility'
import { useEventListener } from '../src/composables/useEventListener'
import { useNow } from '../src/composables/useNow'
import { setHidden } from './helpers'

afterEach(() => {
  setHidden(false)
  vi.useRealTimers()
})

describe('useEventListener', () => {
  it('listens until its scope ends', () => {
    const target = new EventTarget()
    const handler = vi.fn()
    const scope = effectScope()
    scope.run(() => useEventListener(target, 'ping', handler))
    target.dispatchEvent(new Event('ping'))
    expect(handler).toHaveBeenCalledOnce()
    scope.stop()
    target.dispatchEvent(new Event('ping'))
    expect(handler).toHaveBeenCalledOnce()
  })

  it('stops when asked, once', () => {
    const target = new EventTarget()
    const remove = vi.spyOn(target, 'removeEventListener')
    const handler = vi.fn()
    const scope = effectScope()
    const stop = scope.run(() => useEventListener(target, 'ping', handler))!
    stop()
    target.dispatchEvent(new Event('ping'))
    expect(handler).not.toHaveBeenCalled()
    scope.stop()
    expect(remove).toHaveBeenCalledOnce()
  })

  it('works outside a scope, until stopped', () => {
    const target = new EventTarget()
    const handler = vi.fn()
    const stop = useEventListener<CustomEvent<number>>(target, 'ping', (event) => handler(event.detail))
    target.dispatchEvent(new CustomEvent('ping', { detail: 7 }))
    stop()
    target.dispatchEvent(new CustomEvent('ping', { detail: 8 }))
    expect(handler.mock.calls).toEqual([[7]])
  })
})

describe('useDocumentVisibility', () => {
  it('follows the document, until its scope ends', () => {
    setHidden(true)
    const scope = effectScope()
    const visible = scope.run(() => useDocumentVisibility())!
    expect(visible.value).toBe(false)
    setHidden(false)
    expect(visible.value).toBe(true)
    scope.stop()
    setHidden(true)
    expect(visible.value).toBe(true)
  })

  it('has one listener per scope, removed with it', () => {
    const add = vi.spyOn(document, 'addEventListener')
    const remove = vi.spyOn(document, 'removeEventListener')
    const scope = effectScope()
    scope.run(() => useDocumentVisibility())
    expect(add.mock.calls.map(([name]) => name)).toEqual(['visibilitychange'])
    scope.stop()
    expect(remove.mock.calls.map(([name]) => name)).toEqual(['visibilitychange'])
  })
})

describe('useNow', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    vi.setSystemTime(1_000_000)
  })

  it('is the time it was made at, until resumed', () => {
    const scope = effectScope()
    const { now } = scope.run(() => useNow(30))!
    expect(now.value).toBe(1_000_000)
    vi.advanceTimersByTime(60_000)
    expect(now.value).toBe(1_000_000)
    scope.stop()
  })

  it('ticks every `seconds` while resumed, and stops when paused', () => {
    const scope = effectScope()
    const { now, pause, resume } = scope.run(() => useNow(30))!
    vi.advanceTimersByTime(5_000)
    resume()
    expect(now.value).toBe(1_005_000)
    vi.advanceTimersByTime(29_999)
    expect(now.value).toBe(1_005_000)
    vi.advanceTimersByTime(1)
    expect(now.value).toBe(1_035_000)
    pause()
    vi.advanceTimersByTime(60_000)
    expect(now.value).toBe(1_035_000)
    scope.stop()
  })

  it('starts over when resumed again', () => {
    const scope = effectScope()
    const { now, resume } = scope.run(() => useNow(30))!
    resume()
    vi.advanceTimersByTime(20_000)
    resume()
    expect(now.value).toBe(1_020_000)
    vi.advanceTimersByTime(20_000)
    expect(now.value).toBe(1_020_000)
    vi.advanceTimersByTime(10_000)
    expect(now.value).toBe(1_050_000)
    scope.stop()
  })

  it('stops with its scope', async () => {
    const scope = effectScope()
    const { now, resume } = scope.run(() => useNow(30))!
    resume()
    scope.stop()
    vi.advanceTimersByTime(60_000)
    await nextTick()
    expect(now.value).toBe(1_000_000)
    expect(vi.getTimerCount()).toBe(0)
  })
})
