import { effectScope } from 'vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { usePoller, type PollerOptions, type PollRequest } from '../src/composables/usePoller'
import { settle, wait } from './helpers'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
})

afterEach(() => {
  vi.useRealTimers()
})

class Busy extends Error {
  constructor(readonly retryAfter: number | null = null) {
    super('busy')
  }
}

/** A server whose answers the test gives in turn: a value, or an error to throw. Requests it
 * is told to hold wait until `release()`. */
function fakeServer() {
  const sent: AbortSignal[] = []
  const answers: (number | Error)[] = []
  const held: (() => void)[] = []
  let holding = false
  let last = 0
  const request: PollRequest<number> = {
    send(signal) {
      sent.push(signal)
      const answer = answers.shift() ?? last
      if (typeof answer === 'number') last = answer
      const reply = (): Promise<number> => (answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer))
      if (!holding) return reply()
      return new Promise<number>((resolve, reject) => held.push(() => reply().then(resolve, reject)))
    },
    succeeded: vi.fn(),
    failed: vi.fn(),
    answered: vi.fn(),
  }
  return {
    request,
    sent,
    answers,
    hold(value = true) {
      holding = value
    },
    async release() {
      for (const answer of held.splice(0)) answer()
      await settle()
    },
  }
}

function poll(server: ReturnType<typeof fakeServer>, options: Partial<PollerOptions> = {}) {
  const scope = effectScope()
  const poller = scope.run(() =>
    usePoller(server.request, {
      interval: () => 60,
      backoffBase: 5,
      backoffMax: 300,
      retryAfter: (error) => (error instanceof Busy ? error.retryAfter : null),
      retryAfterMax: 3600,
      ...options,
    }),
  )!
  return { poller, scope }
}

describe('usePoller', () => {
  it('sends at start, then every interval()', async () => {
    const server = fakeServer()
    const { poller, scope } = poll(server)
    poller.start()
    poller.start()
    await settle()
    expect(server.sent).toHaveLength(1)
    expect(server.request.succeeded).toHaveBeenCalledWith(0)
    expect(server.request.answered).toHaveBeenCalledOnce()
    await wait(59.9)
    expect(server.sent).toHaveLength(1)
    await wait(0.1)
    expect(server.sent).toHaveLength(2)
    scope.stop()
  })

  it('reads interval() after each answer, and sets no timer when it is null', async () => {
    const server = fakeServer()
    let interval: number | null = 10
    const { poller, scope } = poll(server, { interval: () => interval })
    poller.start()
    await settle()
    interval = null
    await wait(10)
    expect(server.sent).toHaveLength(2)
    await wait(600)
    expect(server.sent).toHaveLength(2)

    interval = 20
    poller.reschedule()
    await wait(20)
    expect(server.sent).toHaveLength(3)
    scope.stop()
  })

  it('backs off 5, 10, 20 s, and polls as usual once it succeeds', async () => {
    const server = fakeServer()
    server.answers.push(new Busy(), new Busy(), new Busy(), 1)
    const { poller, scope } = poll(server)
    poller.start()
    await settle()
    expect(poller.failed.value).toBe(true)
    expect(server.request.failed).toHaveBeenCalledOnce()
    for (const [delay, count] of [[5, 2], [10, 3], [20, 4]] as const) {
      await wait(delay - 0.1)
      expect(server.sent).toHaveLength(count - 1)
      await wait(0.1)
      expect(server.sent).toHaveLength(count)
    }
    expect(poller.failed.value).toBe(false)
    await wait(59.9)
    expect(server.sent).toHaveLength(4)
    await wait(0.1)
    expect(server.sent).toHaveLength(5)
    scope.stop()
  })

  it("waits at least the server's Retry-After, at most retryAfterMax", async () => {
    const server = fakeServer()
    server.answers.push(new Busy(30), new Busy(1), new Busy(86_400))
    const { poller, scope } = poll(server)
    poller.start()
    await settle()
    await wait(29.9)
    expect(server.sent).toHaveLength(1)
    await wait(0.1)
    expect(server.sent).toHaveLength(2)
    // Its own back-off when the server asks for less.
    await wait(9.9)
    expect(server.sent).toHaveLength(2)
    await wait(0.1)
    expect(server.sent).toHaveLength(3)
    await wait(3599)
    expect(server.sent).toHaveLength(3)
    await wait(1)
    expect(server.sent).toHaveLength(4)
    scope.stop()
  })

  it('counts a throwing succeeded() as a failure', async () => {
    const server = fakeServer()
    vi.mocked(server.request.succeeded).mockImplementationOnce(() => {
      throw new Error('bug')
    })
    const { poller, scope } = poll(server)
    poller.start()
    await settle()
    expect(poller.failed.value).toBe(true)
    expect(server.request.answered).toHaveBeenCalledOnce()
    await wait(5)
    expect(server.sent).toHaveLength(2)
    scope.stop()
  })

  it('sets no timer while paused, still sends what is asked for, and refreshes when resumed', async () => {
    const server = fakeServer()
    const { poller, scope } = poll(server)
    poller.start()
    await settle()
    poller.pause()
    await wait(600)
    expect(server.sent).toHaveLength(1)
    await poller.refresh()
    await wait(600)
    expect(server.sent).toHaveLength(2)

    poller.resume()
    await settle()
    expect(server.sent).toHaveLength(3)
    await wait(60)
    expect(server.sent).toHaveLength(4)
    scope.stop()
  })

  it("keeps the Retry-After's time when resumed before it is over", async () => {
    const server = fakeServer()
    server.answers.push(new Busy(120))
    const { poller, scope } = poll(server)
    poller.start()
    await settle()
    poller.pause()
    await wait(30)
    poller.resume()
    await settle()
    expect(server.sent).toHaveLength(1)
    await wait(89.9)
    expect(server.sent).toHaveLength(1)
    await wait(0.1)
    expect(server.sent).toHaveLength(2)
    scope.stop()
  })

  it('is not paused once started again', async () => {
    const server = fakeServer()
    const { poller, scope } = poll(server)
    poller.start()
    poller.pause()
    poller.stop()
    poller.start()
    await settle()
    await wait(60)
    expect(server.sent).toHaveLength(3)
    scope.stop()
  })

  it('refreshes once for changes announced while a request is in flight', async () => {
    const server = fakeServer()
    const { poller, scope } = poll(server)
    server.hold()
    poller.start()
    await settle()
    poller.invalidate()
    poller.invalidate()
    expect(server.sent).toHaveLength(1)
    await server.release()
    expect(server.sent).toHaveLength(2)
    await server.release()
    expect(server.sent).toHaveLength(2)
    expect(server.request.succeeded).toHaveBeenCalledTimes(2)

    server.hold(false)
    poller.invalidate()
    await settle()
    expect(server.sent).toHaveLength(3)
    scope.stop()
  })

  it('does not set a timer on reschedule() while a request is in flight', async () => {
    const server = fakeServer()
    const { poller, scope } = poll(server)
    server.hold()
    poller.start()
    await settle()
    poller.reschedule()
    await wait(600)
    expect(server.sent).toHaveLength(1)
    scope.stop()
  })

  it('aborts the request it replaces and ignores its answer', async () => {
    const server = fakeServer()
    server.answers.push(1, 2)
    const { poller, scope } = poll(server)
    server.hold()
    poller.start()
    void poller.refresh()
    expect(server.sent.map((signal) => signal.aborted)).toEqual([true, false])
    await server.release()
    expect(vi.mocked(server.request.succeeded).mock.calls).toEqual([[2]])
    expect(server.request.answered).toHaveBeenCalledOnce()
    scope.stop()
  })

  it('runs other requests in the same turn, with the same back-off', async () => {
    const server = fakeServer()
    const { poller, scope } = poll(server)
    poller.start()
    await settle()
    const other: PollRequest<string> = {
      send: () => Promise.reject(new Busy(40)),
      succeeded: vi.fn(),
      failed: vi.fn(),
      answered: vi.fn(),
    }
    await poller.run(other)
    expect(other.failed).toHaveBeenCalledOnce()
    expect(other.answered).toHaveBeenCalledOnce()
    expect(poller.failed.value).toBe(true)
    await wait(39.9)
    expect(server.sent).toHaveLength(1)
    await wait(0.1)
    expect(server.sent).toHaveLength(2)
    expect(poller.failed.value).toBe(false)
    scope.stop()
  })

  it('takes requests without failed() and answered()', async () => {
    const server = fakeServer()
    const { poller, scope } = poll(server, { retryAfter: undefined, retryAfterMax: undefined })
    poller.start()
    await settle()
    const succeeded = vi.fn()
    await poller.run({ send: () => Promise.resolve('ok'), succeeded })
    expect(succeeded).toHaveBeenCalledWith('ok')
    await poller.run({ send: () => Promise.reject(new Busy(40)), succeeded })
    expect(poller.failed.value).toBe(true)
    await wait(5)
    expect(server.sent).toHaveLength(2)
    scope.stop()
  })

  it('stops with its scope: no timer, and the request in flight is aborted and ignored', async () => {
    const server = fakeServer()
    const { poller, scope } = poll(server)
    server.hold()
    poller.start()
    scope.stop()
    expect(server.sent[0]!.aborted).toBe(true)
    await server.release()
    expect(server.request.succeeded).not.toHaveBeenCalled()
    await wait(600)
    expect(server.sent).toHaveLength(1)
    expect(vi.getTimerCount()).toBe(0)
  })
})
