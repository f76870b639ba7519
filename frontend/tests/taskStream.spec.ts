import { effectScope } from 'vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useTaskStream } from '../src/composables/useTaskStream'
import type { StreamListener } from '../src/taskStream'
import { fakeEventSource, type FakeEventSource, setHidden, STREAM_URL, wait } from './helpers'

let Sources: typeof FakeEventSource
const scopes: ReturnType<typeof effectScope>[] = []

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  setHidden(false)
  Sources = fakeEventSource()
})

afterEach(() => {
  for (const scope of scopes.splice(0)) scope.stop()
  setHidden(false)
  vi.useRealTimers()
})

function listener(): StreamListener {
  return { ready: vi.fn(), changed: vi.fn(), down: vi.fn() }
}

function follower(events = listener()) {
  const scope = effectScope()
  scopes.push(scope)
  return { events, scope, stream: scope.run(() => useTaskStream(events))! }
}

describe('useTaskStream', () => {
  it('is live between ready and an error, and says so to its listener', () => {
    const { events, stream } = follower()
    stream.follow(STREAM_URL)
    expect(stream.live.value).toBe(false)
    Sources.open[0]!.emit('ready', { version: '1' })
    expect(stream.live.value).toBe(true)
    expect(events.ready).toHaveBeenCalledOnce()
    Sources.open[0]!.emit('changed', { version: '2' })
    expect(events.changed).toHaveBeenCalledOnce()
    Sources.open[0]!.emit('error')
    expect(stream.live.value).toBe(false)
    expect(events.down).toHaveBeenCalledOnce()
  })

  it('follows nothing for null, another origin, or without EventSource', () => {
    const { stream } = follower()
    stream.follow(null)
    stream.follow('https://elsewhere.example/stream/')
    vi.stubGlobal('EventSource', undefined)
    stream.follow(STREAM_URL)
    expect(Sources.instances).toHaveLength(0)
    expect(stream.live.value).toBe(false)
  })

  it('keeps one stream while the same URL is advertised, and moves when it changes', () => {
    const { stream } = follower()
    stream.follow(STREAM_URL)
    stream.follow(STREAM_URL)
    expect(Sources.instances).toHaveLength(1)
    const moved = new URL('/elsewhere/stream/', STREAM_URL).toString()
    stream.follow(moved)
    expect(Sources.instances.map((source) => [source.url, source.closed])).toEqual([
      [STREAM_URL, true],
      [moved, false],
    ])
    stream.follow(null)
    expect(Sources.open).toHaveLength(0)
  })

  it('stays closed after logout until advertised again', async () => {
    const { stream } = follower()
    stream.follow(STREAM_URL)
    Sources.open[0]!.emit('ready')
    Sources.open[0]!.emit('logout')
    expect(stream.live.value).toBe(false)
    await wait(120)
    expect(Sources.instances).toHaveLength(1)
    stream.follow(STREAM_URL)
    expect(Sources.open).toHaveLength(1)
    expect(Sources.instances).toHaveLength(2)
  })

  it('is shared by the followers of a URL, and closed with the last scope', () => {
    const first = follower()
    const second = follower()
    first.stream.follow(STREAM_URL)
    second.stream.follow(STREAM_URL)
    expect(Sources.instances).toHaveLength(1)
    Sources.open[0]!.emit('ready')
    expect(first.stream.live.value).toBe(true)
    expect(second.stream.live.value).toBe(true)
    first.scope.stop()
    expect(first.stream.live.value).toBe(false)
    expect(Sources.open).toHaveLength(1)
    second.scope.stop()
    expect(Sources.open).toHaveLength(0)
  })

  it('closes while the page is hidden, and stops listening for it once closed', () => {
    const { stream, scope } = follower()
    stream.follow(STREAM_URL)
    setHidden(true)
    expect(Sources.open).toHaveLength(0)
    setHidden(false)
    expect(Sources.open).toHaveLength(1)
    scope.stop()
    setHidden(true)
    setHidden(false)
    expect(Sources.instances).toHaveLength(2)
    expect(Sources.open).toHaveLength(0)
  })

  it('does not open while the page is hidden', () => {
    setHidden(true)
    const { stream } = follower()
    stream.follow(STREAM_URL)
    expect(Sources.instances).toHaveLength(0)
    setHidden(false)
    expect(Sources.open).toHaveLength(1)
  })
})
