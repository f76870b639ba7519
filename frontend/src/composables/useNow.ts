import { getCurrentScope, onScopeDispose, ref } from 'vue'

/** The time in ms, renewed every `seconds` while resumed; the clock stops with the scope. */
export function useNow(seconds: number) {
  const now = ref(Date.now())
  let timer: ReturnType<typeof setTimeout> | null = null

  function tick(): void {
    now.value = Date.now()
    timer = setTimeout(tick, seconds * 1000)
  }

  function pause(): void {
    if (timer !== null) clearTimeout(timer)
    timer = null
  }

  /** Renews `now` at once, then every `seconds`. */
  function resume(): void {
    pause()
    tick()
  }

  if (getCurrentScope()) onScopeDispose(pause)
  return { now, pause, resume }
}
