export type TaskState = 'PENDING' | 'PROCESSING' | 'DONE' | 'ERROR' | 'CANCELLED'

export interface Task {
  uuid: string
  name: string
  description: string
  state: TaskState
  progression: number
  created_at: string
  started_at: string | null
  completed_at: string | null
  /** A link to open the task's result (a URL, or the result view of its file), or null. */
  result_url: string | null
  /** The result button's text; null for the widget's own ("Open" / "Download"). */
  result_label: string | null
  /** Why the task failed, for its person; null for the widget's generic message. */
  error_message: string | null
  /** True once the person asked to stop a PROCESSING task and the job has not stopped yet. */
  cancel_requested: boolean
}

export interface TaskPage {
  count: number
  pending_count: number
  next: string | null
  previous: string | null
  results: Task[]
}

export interface ViewerOptions {
  /** List endpoint of the task API. */
  url: string
  /** Seconds between refreshes while no task is running. */
  interval?: number
  /** Tasks fetched per page. */
  limit?: number
  /** Language tag; defaults to `<html lang>`. */
  lang?: string
  /** Follow the server's task stream when it offers one; defaults to true. */
  stream?: boolean
  /** Seconds a request may take before it counts as failed; defaults to 15. */
  timeout?: number
  /** `'browser'`: tell of ended tasks through the browser's notifications while hidden. */
  notify?: 'browser'
  /** Start the page title with the count of running tasks; defaults to false. */
  titleBadge?: boolean
}

export function isActive(task: Task): boolean {
  return task.state === 'PENDING' || task.state === 'PROCESSING'
}
