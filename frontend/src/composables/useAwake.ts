import { computed, getCurrentScope, onScopeDispose, shallowRef, type Ref } from 'vue'
import { useDocumentVisibility } from './useDocumentVisibility'

/** Reasons to keep hearing of changes while the page is hidden (browser notifications, another
 * tab that relies on this one). */
const holds = shallowRef(0)

/** Keeps the page's stream and poll going while it is hidden, until the returned function is
 * called or the scope ends. */
export function holdAwake(): () => void {
  holds.value += 1
  let held = true
  const release = (): void => {
    if (!held) return
    held = false
    holds.value -= 1
  }
  if (getCurrentScope()) onScopeDispose(release)
  return release
}

/** Whether the page should hear of changes now: it is visible, or something holds it awake. */
export function useAwake(): Readonly<Ref<boolean>> {
  const visible = useDocumentVisibility()
  return computed(() => visible.value || holds.value > 0)
}
