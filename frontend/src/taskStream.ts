import { effectScope, shallowRef, watch, type Ref } from 'vue'
import { delayAfter } from './backoff'
import { useAwake } from './composables/useAwake'

/** Seconds before the first reopening after a failed stream, doubled each time up to RECONNECT_MAX. */
export const RECONNECT_BASE = 1
export const RECONNECT_MAX = 60
/** Seconds before reopening a stream the server ended on purpose (`reconnect`, its `retry`). */
export const RECONNECT_AFTER_END = 2

export interface StreamListener {
  /** The stream is open and the list changed while it was not (or it is the first opening). */
  ready(): void
  /** The person's list changed. */
  changed(): void
  /** The stream closed; it will be reopened if it can. */
  down(): void
}

export interface StreamSubscription {
  /** Whether changes arrive through the stream right now (reactive). */
  readonly live: boolean
  /** The list endpoint advertised the stream again: reopen it if the session had ended. */
  resume(): void
  cancel(): void
}

function versionOf(event: Event): string | null {
  try {
    const data: unknown = JSON.parse((event as MessageEvent<string>).data)
    const version = (data as { version?: unknown } | null)?.version
    return typeof version === 'string' ? version : null
  } catch {
    return null
  }
}

export function streamSupported(): boolean {
  return typeof EventSource !== 'undefined'
}

/**
 * One `EventSource` per stream URL, shared by every viewer of the page that follows it. Reopens
 * with back-off after an error or a server shutdown, closes while the page is hidden, and stays
 * closed after `logout` until `resume()`.
 */
class SharedStream {
  readonly listeners = new Set<StreamListener>()
  /** Open, and said `ready`. */
  readonly live = shallowRef(false)
  private source: EventSource | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private failures = 0
  private loggedOut = false
  /** The list's version the server last announced: a reopening that finds it unchanged needs
   * no refresh, which keeps the server's hourly reconnections cheap. */
  private version: string | null = null
  /** Holds the visibility listener until `dispose()`: the stream outlives the viewer that
   * opened it while others follow it. */
  private readonly scope = effectScope(true)
  private readonly visible: Readonly<Ref<boolean>>

  constructor(private readonly url: string) {
    this.visible = this.scope.run(() => {
      const visible = useAwake()
      watch(visible, (shown) => this.onVisibilityChange(shown), { flush: 'sync' })
      return visible
    })!
  }

  open(): void {
    if (this.source !== null || this.timer !== null || this.loggedOut || !this.visible.value) return
    const source = new EventSource(this.url, { withCredentials: false })
    this.source = source
    source.addEventListener('ready', (event) => {
      this.failures = 0
      this.live.value = true
      const version = versionOf(event)
      if (version === null || version !== this.version) {
        this.version = version
        this.notify((listener) => listener.ready())
      }
    })
    source.addEventListener('changed', (event) => {
      this.version = versionOf(event)
      this.notify((listener) => listener.changed())
    })
    source.addEventListener('logout', () => {
      this.loggedOut = true
      this.close()
    })
    source.addEventListener('reconnect', () => this.reopenAfter(RECONNECT_AFTER_END))
    source.addEventListener('shutdown', () => this.reopenWithBackoff())
    source.addEventListener('error', () => this.reopenWithBackoff())
  }

  resume(): void {
    if (!this.loggedOut) return
    this.loggedOut = false
    this.failures = 0
    this.open()
  }

  dispose(): void {
    this.scope.stop()
    this.loggedOut = true
    this.close()
  }

  private reopenWithBackoff(): void {
    this.failures += 1
    this.reopenAfter(delayAfter(this.failures, RECONNECT_BASE, RECONNECT_MAX))
  }

  private reopenAfter(seconds: number): void {
    this.close()
    this.timer = setTimeout(() => {
      this.timer = null
      this.open()
    }, seconds * 1000)
  }

  private close(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.source?.close()
    this.source = null
    if (this.live.value) {
      this.live.value = false
      this.notify((listener) => listener.down())
    }
  }

  private notify(call: (listener: StreamListener) => void): void {
    for (const listener of [...this.listeners]) call(listener)
  }

  private onVisibilityChange(shown: boolean): void {
    if (shown) {
      this.failures = 0
      this.open()
    } else {
      this.close()
    }
  }
}

const streams = new Map<string, SharedStream>()

/** Follows the stream at `url`, opening it unless this page already has it open. */
export function followStream(url: string, listener: StreamListener): StreamSubscription {
  let stream = streams.get(url)
  if (stream === undefined) {
    stream = new SharedStream(url)
    streams.set(url, stream)
  }
  const shared = stream
  shared.listeners.add(listener)
  shared.open()
  return {
    get live() {
      return shared.live.value && shared.listeners.has(listener)
    },
    resume: () => shared.resume(),
    cancel() {
      if (!shared.listeners.delete(listener) || shared.listeners.size > 0) return
      shared.dispose()
      streams.delete(url)
    },
  }
}
