import { computed, getCurrentScope, onScopeDispose, shallowRef } from 'vue'
import { followStream, streamSupported, type StreamListener, type StreamSubscription } from '../taskStream'

/**
 * Follows the task stream the list endpoint advertises, shared with the page's other viewers
 * (`followStream`): opens it the first time, reopens it after a `logout` when it is advertised
 * again, leaves it when it is no longer advertised or moves. Only a stream on the page's own
 * origin is followed: the session cookie would not go elsewhere. Left with the scope.
 */
export function useTaskStream(listener: StreamListener) {
  const followed = shallowRef<{ url: string; subscription: StreamSubscription } | null>(null)
  /** Changes arrive through the stream right now: no need to poll. */
  const live = computed(() => followed.value?.subscription.live ?? false)

  /** The stream the last answer advertised, or `null` for none. */
  function follow(url: string | null): void {
    const usable = url !== null && streamSupported() && new URL(url).origin === location.origin
    if (followed.value !== null && (!usable || followed.value.url !== url)) close()
    if (!usable) return
    if (followed.value !== null) followed.value.subscription.resume()
    else followed.value = { url, subscription: followStream(url, listener) }
  }

  function close(): void {
    followed.value?.subscription.cancel()
    followed.value = null
  }

  if (getCurrentScope()) onScopeDispose(close)
  return { live, follow, close }
}
