import { getCurrentScope, onScopeDispose } from 'vue'

/**
 * Listens to `name` events on `target` until the current effect scope ends, or until the
 * returned function is called.
 */
export function useEventListener<E extends Event = Event>(
  target: EventTarget,
  name: string,
  handler: (event: E) => void,
  options?: AddEventListenerOptions,
): () => void {
  const listener = handler as EventListener
  target.addEventListener(name, listener, options)
  let listening = true
  const stop = (): void => {
    if (!listening) return
    listening = false
    target.removeEventListener(name, listener, options)
  }
  if (getCurrentScope()) onScopeDispose(stop)
  return stop
}
