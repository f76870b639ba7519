import { effectScope, getCurrentScope, onScopeDispose, ref, shallowRef, watch, type EffectScope } from 'vue'
import { FetchError, fetchTaskPage, type PageAnswer } from './api'
import { useDocumentVisibility } from './composables/useDocumentVisibility'
import { useEventListener } from './composables/useEventListener'
import { usePoller } from './composables/usePoller'
import { useTaskStream } from './composables/useTaskStream'
import { appendNew, finishedSince, readSnapshot, sameTasks, type Snapshot, type Transition } from './taskList'
import { isActive, type Task } from './types'
import { PageValidators } from './validators'

export type { Transition } from './taskList'

export const REFRESH_EVENT = 'AsyncTasksViewer:fetchAsyncTasks'
/** Seconds between refreshes while a task is pending or processing. */
export const ACTIVE_DELAY = 5
/** First retry delay after a failure, doubled at each further failure up to BACKOFF_MAX. */
export const BACKOFF_BASE = 5
export const BACKOFF_MAX = 300
/** Longest wait a `Retry-After` may impose, in seconds: a server's mistake must not stop the
 * widget for days. */
export const RETRY_AFTER_MAX = 3600

export interface FeedConfig {
  url: string
  /** Seconds between refreshes while no task is running. */
  interval: number
  /** Page size. */
  limit: number
  /** Follow the task stream when the server advertises one. */
  stream: boolean
}

/**
 * Keeps the user's task list up to date: polls while started (asking only for changes), follows
 * "load more", backs off on failure, pauses while the document is hidden. When the server
 * advertises a task stream, refreshes on each change it announces and does not poll while it
 * is open. Only the newest request may change the state, so an older answer never replaces a
 * newer one. Stops with the scope.
 */
export function useTaskFeed(config: FeedConfig, onTransitions?: (finished: Transition[]) => void) {
  const tasks = shallowRef<Task[]>([])
  const pendingCount = ref(0)
  const hasMore = ref(false)
  /** At least one refresh has been answered, successfully or not. */
  const settled = ref(false)
  const loadingMore = ref(false)
  /** Time of the last successful answer, in ms. */
  const updatedAt = ref(0)
  /** Tasks a refresh reads again: the first page and every page loaded since. */
  let wanted = config.limit
  const validators = new PageValidators()

  const poller = usePoller<Snapshot>(
    {
      send: (signal) => readSnapshot(config.url, wanted, signal, validators),
      succeeded({ results, last }) {
        const finished = finishedSince(tasks.value, results)
        // Pages answered 304 bring back the very objects shown: nothing to redraw.
        if (!sameTasks(tasks.value, results)) tasks.value = results
        show(last)
        if (finished.length > 0) onTransitions?.(finished)
      },
      answered() {
        settled.value = true
        loadingMore.value = false
      },
    },
    {
      // No timer while the stream is live: it announces every change, and each (re)connection's
      // `ready` refreshes, so an idle widget costs the server nothing.
      interval: () => (stream.live.value ? null : busy() ? ACTIVE_DELAY : config.interval),
      backoffBase: BACKOFF_BASE,
      backoffMax: BACKOFF_MAX,
      retryAfter: (error) => (error instanceof FetchError ? error.retryAfter : null),
      retryAfterMax: RETRY_AFTER_MAX,
    },
  )
  const stream = useTaskStream({ ready: poller.invalidate, changed: poller.invalidate, down: poller.reschedule })
  const { failed, refresh } = poller

  function busy(): boolean {
    return pendingCount.value > 0 || tasks.value.some(isActive)
  }

  function show({ page, stream: offered }: PageAnswer): void {
    pendingCount.value = page.pending_count
    hasMore.value = page.next !== null
    updatedAt.value = Date.now()
    stream.follow(config.stream ? offered : null)
  }

  function loadMore(): Promise<void> {
    if (loadingMore.value) return Promise.resolve()
    loadingMore.value = true
    const offset = tasks.value.length
    wanted = offset + config.limit
    return poller.run<PageAnswer>({
      send: (signal) => fetchTaskPage(config.url, config.limit, offset, signal),
      succeeded(answer) {
        tasks.value = appendNew(tasks.value, answer.page.results)
        show(answer)
      },
      failed() {
        wanted = Math.max(config.limit, tasks.value.length)
      },
      answered() {
        loadingMore.value = false
      },
    })
  }

  /** The listeners of a started feed. */
  let started: EffectScope | null = null

  function start(): void {
    if (started !== null) return
    started = effectScope(true)
    const visible = started.run(() => {
      useEventListener(document, REFRESH_EVENT, () => void refresh())
      const visible = useDocumentVisibility()
      watch(visible, (shown) => (shown ? poller.resume() : poller.pause()), { flush: 'sync' })
      return visible
    })!
    poller.start()
    if (!visible.value) poller.pause()
  }

  function stop(): void {
    started?.stop()
    started = null
    poller.stop()
    stream.close()
  }

  if (getCurrentScope()) onScopeDispose(stop)

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
