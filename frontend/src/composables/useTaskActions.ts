import { getCurrentScope, onScopeDispose, reactive, ref, watch, type Ref } from 'vue'
import { postTask } from '../actions'
import { isActive, type Task } from '../types'

export interface ActionsConfig {
  /** The list endpoint, ending with a slash: the actions' URLs are relative to it. */
  url: string
  /** Seconds a request may take; 0 for no limit. */
  timeout: number
  /** The CSRF token, looked up at each request. */
  token(): string | null
}

/**
 * Cancels and dismisses the tasks of `tasks` on the person's request: shows what the server
 * answered at once (the cancelled item, the dismissed rows gone), then `refresh`es. Requests still
 * on their way when the scope ends are aborted, and their answers ignored.
 */
export function useTaskActions(tasks: Ref<Task[]>, refresh: () => Promise<void>, config: ActionsConfig) {
  /** Running tasks whose cancel was asked here: until the list shows them finished, or it fails. */
  const cancelling = reactive(new Set<string>())
  /** Finished tasks whose dismiss is on its way. */
  const dismissing = reactive(new Set<string>())
  /** Running tasks whose last cancel failed. */
  const cancelFailed = reactive(new Set<string>())
  /** "Clear finished" is on its way. */
  const clearing = ref(false)
  const controller = new AbortController()
  if (getCurrentScope()) onScopeDispose(() => controller.abort())

  // A row that finished or left the list is neither being cancelled nor failed to be.
  watch(tasks, (shown) => {
    const running = new Set(shown.filter(isActive).map((task) => task.uuid))
    for (const set of [cancelling, cancelFailed]) for (const uuid of set) if (!running.has(uuid)) set.delete(uuid)
  })

  /** The answer, or null when there is none (the failure is logged) or the scope has ended. */
  async function send(path: string): Promise<Response | null> {
    let answer: Response | null = null
    try {
      answer = await postTask(config.url, path, config.token(), config.timeout, controller.signal)
      if (!answer.ok) console.warn(`osis-async: POST ${path}: ${answer.status}`)
    } catch (error) {
      console.warn(`osis-async: POST ${path}: ${String(error)}`)
    }
    return controller.signal.aborted ? null : answer
  }

  /** The list changed, or the task is not what this tab thought: read it again. */
  function after(answer: Response | null): void {
    if (answer && (answer.ok || answer.status === 404 || answer.status === 409)) void refresh()
  }

  function remove(uuids: Set<string>): void {
    tasks.value = tasks.value.filter((task) => !uuids.has(task.uuid))
  }

  async function cancel({ uuid }: Task): Promise<void> {
    if (cancelling.has(uuid)) return
    cancelling.add(uuid)
    cancelFailed.delete(uuid)
    const answer = await send(`${uuid}/cancel/`)
    if (answer?.status === 202) {
      const item = (await answer.json().catch(() => null)) as Task | null
      if (item?.uuid === uuid) tasks.value = tasks.value.map((task) => (task.uuid === uuid ? item : task))
    } else if (answer?.status !== 409 && !controller.signal.aborted) {
      // 409: it finished meanwhile, which the refresh shows.
      cancelling.delete(uuid)
      cancelFailed.add(uuid)
    }
    after(answer)
  }

  async function dismiss({ uuid }: Task): Promise<void> {
    if (dismissing.has(uuid)) return
    dismissing.add(uuid)
    const answer = await send(`${uuid}/dismiss/`)
    dismissing.delete(uuid)
    if (answer?.status === 204) remove(new Set([uuid]))
    after(answer)
  }

  async function clearFinished(): Promise<void> {
    if (clearing.value) return
    clearing.value = true
    const finished = new Set(tasks.value.filter((task) => !isActive(task)).map((task) => task.uuid))
    const answer = await send('dismiss-finished/')
    clearing.value = false
    if (answer?.ok) remove(finished)
    after(answer)
  }

  return { cancelling, dismissing, cancelFailed, clearing, cancel, dismiss, clearFinished }
}
