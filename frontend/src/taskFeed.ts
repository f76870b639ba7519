import { computed, effectScope, getCurrentScope, onScopeDispose, ref, shallowRef, watch, type EffectScope } from 'vue'
import { FetchError, fetchTaskPage, type PageAnswer } from './api'
import { holdAwake, useAwake } from './composables/useAwake'
import { useDocumentVisibility } from './composables/useDocumentVisibility'
import { useEventListener } from './composables/useEventListener'
import { usePoller } from './composables/usePoller'
import { useTaskStream } from './composables/useTaskStream'
import { appendNew, finishedSince, readSnapshot, sameTasks, type Snapshot, type Transition } from './taskList'
import { useTabLeader, type TabRole } from './tabs'
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
/** Seconds a request may take before it is given up, as a failure. */
export const DEFAULT_TIMEOUT = 15

/** The list answered that nobody is signed in. */
export function isSignedOut(error: unknown): boolean {
  return error instanceof FetchError && (error.status === 401 || error.status === 403)
}

export interface FeedConfig {
  url: string
  /** Seconds between refreshes while no task is running. */
  interval: number
  /** Page size. */
  limit: number
  /** Follow the task stream when the server advertises one. */
  stream: boolean
  /** Seconds a request may take; 0 for no limit. */
  timeout?: number
  /** Keep hearing of changes while the page is hidden (to notify of them). */
  whileHidden?: boolean
}

/**
 * Keeps the user's task list up to date: polls while started (asking only for changes), follows
 * "load more", backs off on failure, pauses while the document is hidden. When the server
 * advertises a task stream, refreshes on each change it announces and does not poll while it
 * is open. Only the newest request may change the state, so an older answer never replaces a
 * newer one. Tabs of the browser share one poll and one stream (`useTabLeader`): a follower
 * reads the list when the leader tells it of a change. Stops with the scope.
 */
export function useTaskFeed(config: FeedConfig, onTransitions?: (finished: Transition[]) => void) {
  const tasks = shallowRef<Task[]>([])
  const pendingCount = ref(0)
  const hasMore = ref(false)
  /** At least one refresh has been answered, successfully or not. */
  const settled = ref(false)
  const loadingMore = ref(false)
  /** The list answered 401 or 403: nothing more is asked until a refresh, a focus or a
   * visibility change. */
  const signedOut = ref(false)
  /** What this tab is to the other tabs showing the list. */
  const role = shallowRef<TabRole>('follower')
  /** This tab polls and follows the stream itself. */
  const leads = computed(() => role.value !== 'follower')
  /** The stream the last answer advertised. */
  let offered: string | null = null
  let announce: () => void = () => undefined
  let cameBack: () => void = () => undefined
  const timeout = config.timeout ?? DEFAULT_TIMEOUT
  /** Time of the last successful answer, in ms. */
  const updatedAt = ref(0)
  /** Tasks a refresh reads again: the first page and every page loaded since. */
  let wanted = config.limit
  const validators = new PageValidators()

  const poller = usePoller<Snapshot>(
    {
      send: (signal) => readSnapshot(config.url, wanted, signal, validators, timeout),
      succeeded({ results, last }) {
        const finished = finishedSince(tasks.value, results)
        const pending = pendingCount.value
        // Pages answered 304 bring back the very objects shown: nothing to redraw.
        if (!sameTasks(tasks.value, results)) {
          tasks.value = results
          announce()
        }
        show(last)
        if (pendingCount.value !== pending) announce()
        if (finished.length > 0) onTransitions?.(finished)
      },
      failed: warn,
      answered() {
        settled.value = true
        loadingMore.value = false
      },
    },
    {
      // No timer while the stream is live: it announces every change, and each (re)connection's
      // `ready` refreshes, so an idle widget costs the server nothing.
      interval: () => (!leads.value || stream.live.value ? null : busy() ? ACTIVE_DELAY : config.interval),
      backoffBase: BACKOFF_BASE,
      backoffMax: BACKOFF_MAX,
      retryAfter: (error) => (error instanceof FetchError ? error.retryAfter : null),
      retryAfterMax: RETRY_AFTER_MAX,
      halts: isSignedOut,
    },
  )
  // Every change the stream tells of reaches the followers, whatever pages they show.
  const heard = (): void => {
    announce()
    poller.invalidate()
  }
  const stream = useTaskStream({ ready: heard, changed: heard, down: poller.reschedule })
  const { failed, refresh } = poller

  function busy(): boolean {
    return pendingCount.value > 0 || tasks.value.some(isActive)
  }

  function warn(error: unknown): void {
    signedOut.value = isSignedOut(error)
    if (signedOut.value) stream.close()
    const where = error instanceof FetchError ? `${error.url}: ${error.status ?? 'no status'}, ${error.message}` : String(error)
    console.warn(`osis-async: the tasks could not be loaded (${where})`)
  }

  function show({ page, stream: advertised }: PageAnswer): void {
    if (signedOut.value) cameBack()
    signedOut.value = false
    pendingCount.value = page.pending_count
    hasMore.value = page.next !== null
    updatedAt.value = Date.now()
    offered = config.stream ? advertised : null
    if (leads.value) stream.follow(offered)
  }

  function loadMore(): Promise<void> {
    if (loadingMore.value) return Promise.resolve()
    loadingMore.value = true
    const offset = tasks.value.length
    wanted = offset + config.limit
    return poller.run<PageAnswer>({
      send: (signal) => fetchTaskPage(config.url, config.limit, offset, signal, undefined, timeout),
      succeeded(answer) {
        tasks.value = appendNew(tasks.value, answer.page.results)
        show(answer)
      },
      failed(error) {
        wanted = Math.max(config.limit, tasks.value.length)
        warn(error)
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
      // Signed out, the widget waits for the person to come back to the page.
      useEventListener(window, 'focus', () => signedOut.value && void refresh())
      if (config.whileHidden) holdAwake()
      const visible = useAwake()
      watch(visible, (shown) => (shown ? poller.resume() : poller.pause()), { flush: 'sync' })
      const shown = useDocumentVisibility()
      const wantsChanges = computed(() => shown.value || config.whileHidden === true)
      const leader = useTabLeader(config.url, wantsChanges, poller.invalidate, () => signedOut.value && void refresh())
      announce = leader.announce
      cameBack = leader.cameBack
      watch(
        leader.role,
        (now) => {
          role.value = now
          if (!leads.value) return
          stream.follow(offered)
          poller.reschedule()
        },
        { immediate: true, flush: 'sync' },
      )
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
    signedOut,
    role,
    updatedAt,
    refresh,
    loadMore,
    start,
    stop,
  }
}

export type TaskFeed = ReturnType<typeof useTaskFeed>
