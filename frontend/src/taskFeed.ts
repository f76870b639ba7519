import { ref, shallowRef } from 'vue'
import { FetchError, fetchTaskPage, type PageAnswer } from './api'
import { followStream, streamSupported, type StreamSubscription } from './taskStream'
import { isActive, type Task } from './types'
import { PageValidators } from './validators'

export const REFRESH_EVENT = 'AsyncTasksViewer:fetchAsyncTasks'
/** Seconds between refreshes while a task is pending or processing. */
export const ACTIVE_DELAY = 5
/** First retry delay after a failure, doubled at each further failure up to BACKOFF_MAX. */
export const BACKOFF_BASE = 5
export const BACKOFF_MAX = 300
/** Longest wait a `Retry-After` may impose, in seconds: a server's mistake must not stop the
 * widget for days. */
export const RETRY_AFTER_MAX = 3600
/** Largest page asked for when a refresh re-reads everything already shown. */
export const REFRESH_CHUNK = 100

export interface FeedConfig {
  url: string
  /** Seconds between refreshes while no task is running. */
  interval: number
  /** Page size. */
  limit: number
  /** Follow the task stream when the server advertises one. */
  stream: boolean
}

/** A task that went from pending/processing to done/error between two refreshes. */
export type Transition = Task & { state: 'DONE' | 'ERROR' }

interface Snapshot {
  results: Task[]
  last: PageAnswer
}

function sameTasks(a: Task[], b: Task[]): boolean {
  return a.length === b.length && a.every((task, index) => task === b[index])
}

/**
 * Keeps the user's task list up to date: polls while started (asking only for changes), follows
 * "load more", backs off on failure, pauses while the document is hidden. When the server
 * advertises a task stream, refreshes on each change it announces and does not poll while it
 * is open.
 * Only the newest request may change the state, so an older answer never replaces a newer one.
 */
export function useTaskFeed(config: FeedConfig, onTransitions?: (finished: Transition[]) => void) {
  const tasks = shallowRef<Task[]>([])
  const pendingCount = ref(0)
  const hasMore = ref(false)
  /** At least one request has been answered, successfully or not. */
  const settled = ref(false)
  const loadingMore = ref(false)
  const failed = ref(false)
  /** Time of the last successful answer, in ms. */
  const updatedAt = ref(0)

  let wanted = config.limit
  let sequence = 0
  let controller: AbortController | null = null
  let timer: ReturnType<typeof setTimeout> | null = null
  let failures = 0
  /** Time (ms) before which the server asked not to be asked again (`Retry-After`). */
  let retryAt = 0
  let running = false
  let inFlight = false
  /** A change was announced while a request was in flight: refresh once it is answered. */
  let refreshAgain = false
  const validators = new PageValidators()
  let stream: { url: string; subscription: StreamSubscription } | null = null

  function clearTimer(): void {
    if (timer !== null) {
      clearTimeout(timer)
      timer = null
    }
  }

  /** Seconds until the next poll; none while the stream is live: it announces every change, and
   * each (re)connection's `ready` refreshes, so an idle widget costs the server nothing. */
  function nextDelay(): number | null {
    if (failures > 0) return Math.max(Math.min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_MAX), retryWait())
    if (stream?.subscription.live) return null
    const busy = pendingCount.value > 0 || tasks.value.some(isActive)
    return busy ? ACTIVE_DELAY : config.interval
  }

  /** Seconds left of the server's `Retry-After`. */
  function retryWait(): number {
    return Math.max(0, (retryAt - Date.now()) / 1000)
  }

  /** A failed request: back off, at least as long as the server asked (503, 429…). */
  function noteFailure(error: unknown): void {
    failures += 1
    failed.value = true
    const asked = error instanceof FetchError ? error.retryAfter : null
    retryAt = asked === null ? 0 : Date.now() + Math.min(asked, RETRY_AFTER_MAX) * 1000
  }

  function schedule(): void {
    clearTimer()
    const delay = nextDelay()
    if (!running || document.hidden || delay === null) return
    timer = setTimeout(() => void refresh(), delay * 1000)
  }

  function startRequest(): { id: number; signal: AbortSignal } {
    controller?.abort()
    controller = new AbortController()
    sequence += 1
    inFlight = true
    return { id: sequence, signal: controller.signal }
  }

  /** Ends the current request: refreshes again if a change was announced meanwhile, or waits. */
  function finish(): void {
    inFlight = false
    loadingMore.value = false
    if (refreshAgain) {
      refreshAgain = false
      void refresh()
    } else {
      schedule()
    }
  }

  function isCurrent(id: number): boolean {
    return running && id === sequence
  }

  async function readSnapshot(signal: AbortSignal): Promise<Snapshot> {
    const results: Task[] = []
    const seen = new Set<string>()
    const asked = new Set<string>()
    let offset = 0
    let last: PageAnswer
    do {
      const size = Math.min(REFRESH_CHUNK, wanted - results.length)
      last = await fetchTaskPage(config.url, size, offset, signal, validators)
      asked.add(last.url)
      const before = results.length
      for (const task of last.page.results) {
        if (!seen.has(task.uuid)) {
          seen.add(task.uuid)
          results.push(task)
        }
      }
      offset += last.page.results.length
      // A page that adds nothing new would make the loop spin forever.
      if (results.length === before) break
    } while (results.length < wanted && last.page.next !== null)
    validators.retain(asked)
    return { results, last }
  }

  function succeeded({ page, stream: offered }: PageAnswer): void {
    pendingCount.value = page.pending_count
    hasMore.value = page.next !== null
    failures = 0
    retryAt = 0
    failed.value = false
    updatedAt.value = Date.now()
    follow(offered)
  }

  function follow(url: string | null): void {
    const usable = url !== null && config.stream && streamSupported() && new URL(url).origin === location.origin
    if (stream !== null && (!usable || stream.url !== url)) {
      stream.subscription.cancel()
      stream = null
    }
    if (!usable) return
    if (stream !== null) {
      stream.subscription.resume()
      return
    }
    stream = {
      url,
      subscription: followStream(url, {
        ready: onAnnouncedChange,
        changed: onAnnouncedChange,
        down: () => {
          if (!inFlight) schedule()
        },
      }),
    }
  }

  function onAnnouncedChange(): void {
    if (inFlight) refreshAgain = true
    else void refresh()
  }

  function finishedSince(previous: Task[], current: Task[]): Transition[] {
    const before = new Map(previous.map((task) => [task.uuid, task]))
    return current.filter((task): task is Transition => {
      const old = before.get(task.uuid)
      return old !== undefined && isActive(old) && (task.state === 'DONE' || task.state === 'ERROR')
    })
  }

  async function refresh(): Promise<void> {
    clearTimer()
    const { id, signal } = startRequest()
    try {
      const { results, last } = await readSnapshot(signal)
      if (!isCurrent(id)) return
      const finished = finishedSince(tasks.value, results)
      // Pages answered 304 bring back the very objects shown: nothing to redraw.
      if (!sameTasks(tasks.value, results)) tasks.value = results
      succeeded(last)
      if (finished.length > 0) onTransitions?.(finished)
    } catch (error) {
      if (!isCurrent(id)) return
      noteFailure(error)
    } finally {
      if (isCurrent(id)) {
        settled.value = true
        finish()
      }
    }
  }

  async function loadMore(): Promise<void> {
    if (loadingMore.value) return
    loadingMore.value = true
    const offset = tasks.value.length
    wanted = offset + config.limit
    const { id, signal } = startRequest()
    try {
      const answer = await fetchTaskPage(config.url, config.limit, offset, signal)
      if (!isCurrent(id)) return
      const known = new Set(tasks.value.map((task) => task.uuid))
      tasks.value = [...tasks.value, ...answer.page.results.filter((task) => !known.has(task.uuid))]
      succeeded(answer)
    } catch (error) {
      if (!isCurrent(id)) return
      wanted = Math.max(config.limit, tasks.value.length)
      noteFailure(error)
    } finally {
      if (isCurrent(id)) finish()
    }
  }

  function onVisibilityChange(): void {
    if (document.hidden) clearTimer()
    // Shown again while the server still asks to wait: the retry keeps its time.
    else if (retryWait() > 0) schedule()
    else void refresh()
  }

  function onRefreshEvent(): void {
    void refresh()
  }

  function start(): void {
    if (running) return
    running = true
    document.addEventListener('visibilitychange', onVisibilityChange)
    document.addEventListener(REFRESH_EVENT, onRefreshEvent)
    void refresh()
  }

  function stop(): void {
    running = false
    inFlight = false
    refreshAgain = false
    clearTimer()
    controller?.abort()
    stream?.subscription.cancel()
    stream = null
    document.removeEventListener('visibilitychange', onVisibilityChange)
    document.removeEventListener(REFRESH_EVENT, onRefreshEvent)
  }

  return {
    tasks,
    pendingCount,
    hasMore,
    settled,
    loadingMore,
    failed,
    updatedAt,
    refresh,
    loadMore,
    start,
    stop,
  }
}

export type TaskFeed = ReturnType<typeof useTaskFeed>
