import { getCurrentScope, onScopeDispose, ref } from 'vue'
import { delayAfter } from '../backoff'

/** One request of a poller. Only the newest request's answer counts: an older one arriving
 * late calls none of these. */
export interface PollRequest<A> {
  /** Sends it; `signal` aborts once a newer request replaces it or the poller stops. */
  send(signal: AbortSignal): Promise<A>
  /** It was answered: show the answer. */
  succeeded(answer: A): void
  /** It failed (or `succeeded` threw): the poller backs off. */
  failed?(error: unknown): void
  /** After `succeeded` or `failed`, before the next request is sent or scheduled. */
  answered?(): void
}

export interface PollerOptions {
  /** Seconds to wait after a success; `null` for no timer (something else announces changes). */
  interval(): number | null
  /** Seconds to wait after the first failure, doubled at each further one up to `backoffMax`. */
  backoffBase: number
  backoffMax: number
  /** Seconds the server asked to wait after this failure (`Retry-After`), if it did: the next
   * try waits at least that long. */
  retryAfter?(error: unknown): number | null
  /** Longest wait a `retryAfter` may impose, in seconds. */
  retryAfterMax?: number
  /** This failure stops the polling (signed out): no retry until `refresh()` or `resume()`. */
  halts?(error: unknown): boolean
}

/**
 * Sends `request` when started, then again after `interval()` seconds, or after a back-off
 * while it fails. A new request aborts the one in flight. Paused, it sets no timer (requests
 * asked for still go); resumed, it refreshes at once, unless the server's `Retry-After` still
 * runs. Stops with the scope.
 */
export function usePoller<A>(request: PollRequest<A>, options: PollerOptions) {
  /** The last request failed. */
  const failed = ref(false)
  let timer: ReturnType<typeof setTimeout> | null = null
  let controller: AbortController | null = null
  let running = false
  let paused = false
  let inFlight = false
  /** A change was announced while a request was in flight: refresh once it is answered. */
  let again = false
  let failures = 0
  /** The last failure stopped the polling. */
  let halted = false
  /** Time (ms) before which the server asked not to be asked again (`Retry-After`). */
  let retryAt = 0

  function clearTimer(): void {
    if (timer !== null) clearTimeout(timer)
    timer = null
  }

  /** Seconds left of the server's `Retry-After`. */
  function retryWait(): number {
    return Math.max(0, (retryAt - Date.now()) / 1000)
  }

  function nextDelay(): number | null {
    if (halted) return null
    if (failures > 0) return Math.max(delayAfter(failures, options.backoffBase, options.backoffMax), retryWait())
    return options.interval()
  }

  function schedule(): void {
    clearTimer()
    const delay = nextDelay()
    if (!running || paused || delay === null) return
    timer = setTimeout(() => void refresh(), delay * 1000)
  }

  function noteFailure(error: unknown): void {
    failures += 1
    failed.value = true
    halted = options.halts?.(error) ?? false
    const asked = options.retryAfter?.(error) ?? null
    retryAt = asked === null ? 0 : Date.now() + Math.min(asked, options.retryAfterMax ?? Infinity) * 1000
  }

  /** Ends the newest request: refreshes again if a change was announced meanwhile, or waits. */
  function finish(): void {
    inFlight = false
    if (again) {
      again = false
      void refresh()
    } else {
      schedule()
    }
  }

  /**
   * Sends `next` now, aborting the request in flight. A timer already set keeps running: if it
   * fires first, the refresh it sends replaces this request.
   */
  async function run<B>(next: PollRequest<B>): Promise<void> {
    controller?.abort()
    const mine = new AbortController()
    controller = mine
    inFlight = true
    const current = (): boolean => running && controller === mine
    try {
      const answer = await next.send(mine.signal)
      if (!current()) return
      failures = 0
      retryAt = 0
      failed.value = false
      next.succeeded(answer)
    } catch (error) {
      if (!current()) return
      noteFailure(error)
      next.failed?.(error)
    } finally {
      if (current()) {
        next.answered?.()
        finish()
      }
    }
  }

  /** Sends the poller's own request now. */
  function refresh(): Promise<void> {
    clearTimer()
    halted = false
    return run(request)
  }

  /** Something changed: refreshes now, or once the request in flight is answered. */
  function invalidate(): void {
    if (inFlight) again = true
    else void refresh()
  }

  /** `interval()` may have changed: sets the timer again, unless a request is in flight (its
   * answer will). */
  function reschedule(): void {
    if (!inFlight) schedule()
  }

  function pause(): void {
    paused = true
    clearTimer()
  }

  function resume(): void {
    paused = false
    // While the server still asks to wait, the retry keeps its time.
    if (retryWait() > 0) schedule()
    else void refresh()
  }

  /** Refreshes now and polls from then on, not paused. */
  function start(): void {
    if (running) return
    running = true
    paused = false
    void refresh()
  }

  function stop(): void {
    running = false
    inFlight = false
    again = false
    clearTimer()
    controller?.abort()
  }

  if (getCurrentScope()) onScopeDispose(stop)

  return { failed, refresh, run, invalidate, reschedule, pause, resume, start, stop }
}
