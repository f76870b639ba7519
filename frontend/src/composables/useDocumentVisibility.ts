import { ref, type Ref } from 'vue'
import { useEventListener } from './useEventListener'

/** Whether the document is visible (`!document.hidden`), kept current until the scope ends. */
export function useDocumentVisibility(): Readonly<Ref<boolean>> {
  const visible = ref(!document.hidden)
  useEventListener(document, 'visibilitychange', () => {
    visible.value = !document.hidden
  })
  return visible
}
