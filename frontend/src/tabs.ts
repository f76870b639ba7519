import { getCurrentScope, onScopeDispose, shallowRef, watch, type Ref } from 'vue'
import { holdAwake } from './composables/useAwake'
import { useEventListener } from './composables/useEventListener'

/** What a tab is to the others of the browser that show the same list. */
export type TabRole = 'alone' | 'leader' | 'follower'

type TabMessage =
  | { type: 'changed' }
  | { type: 'awake'; tab: string; awake: boolean }
  | { type: 'roll' }
  | { type: 'bye'; tab: string }
  | { type: 'back' }

/** Both the Web Locks API and `BroadcastChannel`: without either, each tab is on its own. */
export function tabsShareable(): boolean {
  return typeof BroadcastChannel !== 'undefined' && typeof navigator !== 'undefined' && navigator.locks !== undefined
}

/**
 * One tab of the browser leads for `key` (it holds the Web Lock of that name); the others
 * follow: the leader alone polls and follows the stream, and tells the followers through a
 * `BroadcastChannel` when the list changed. When the leader goes, the browser grants the lock
 * to a follower, which leads from then on. A follower tells whether it wants changes now
 * (`awake`: visible, or notifying while hidden), so that a hidden leader keeps listening for
 * it. Left with the scope.
 */
export function useTabLeader(key: string, awake: Readonly<Ref<boolean>>, changed: () => void, back: () => void = () => undefined) {
  const role = shallowRef<TabRole>('follower')
  if (!tabsShareable()) {
    role.value = 'alone'
    return { role, announce: () => undefined, cameBack: () => undefined }
  }
  const name = `osis-async:${key}`
  const tab = Math.random().toString(36).slice(2)
  const channel = new BroadcastChannel(name)
  /** Followers that want changes now: while there are some, the leader stays awake. */
  const awakeFollowers = new Set<string>()
  let release: (() => void) | null = null

  const post = (message: TabMessage): void => channel.postMessage(message)
  const report = (): void => {
    if (role.value === 'follower') post({ type: 'awake', tab, awake: awake.value })
  }

  function holdForFollowers(): void {
    if (awakeFollowers.size > 0 && release === null) release = holdAwake()
    else if (awakeFollowers.size === 0 && release !== null) {
      release()
      release = null
    }
  }

  channel.onmessage = ({ data }: MessageEvent<TabMessage>) => {
    if (data.type === 'changed' && role.value === 'follower' && awake.value) changed()
    else if (data.type === 'back' && role.value === 'leader') back()
    else if (data.type === 'roll') report()
    else if (role.value === 'leader' && (data.type === 'awake' || data.type === 'bye')) {
      if (data.type === 'awake' && data.awake) awakeFollowers.add(data.tab)
      else awakeFollowers.delete(data.tab)
      holdForFollowers()
    }
  }
  watch(awake, report)
  report()

  const controller = new AbortController()
  let unlock: (() => void) | null = null
  navigator.locks
    .request(name, { signal: controller.signal }, () => {
      role.value = 'leader'
      post({ type: 'roll' })
      return new Promise<void>((resolve) => (unlock = resolve))
    })
    .catch(() => undefined) // aborted: the tab stopped before it led

  const leave = (): void => post({ type: 'bye', tab })
  useEventListener(window, 'pagehide', leave)

  if (getCurrentScope())
    onScopeDispose(() => {
      leave()
      controller.abort()
      unlock?.()
      channel.close()
      release?.()
    })

  /** The leader saw the list change: the followers read it again. */
  function announce(): void {
    if (role.value === 'leader') post({ type: 'changed' })
  }

  /** A follower reads the list again after being refused (signed out): the leader, which
   * stopped asking when it was refused too, starts again. */
  function cameBack(): void {
    if (role.value === 'follower') post({ type: 'back' })
  }

  return { role, announce, cameBack }
}
