import { getCurrentScope, onScopeDispose, watch, type Ref } from 'vue'

const BADGE = /^\(\d+\) /

/** Starts the page title with `(count) ` while `count` is above 0; the title is restored with
 * the scope. */
export function useTitleBadge(count: Readonly<Ref<number>>): void {
  const apply = (value: number): void => {
    const title = document.title.replace(BADGE, '')
    document.title = value > 0 ? `(${value}) ${title}` : title
  }
  watch(count, apply, { immediate: true })
  if (getCurrentScope()) onScopeDispose(() => apply(0))
}
