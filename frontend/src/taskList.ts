import { fetchTaskPage, type PageAnswer } from './api'
import { isActive, type Task } from './types'
import type { PageValidators } from './validators'

/** Largest page asked for when a refresh re-reads everything already shown. */
export const REFRESH_CHUNK = 100

/** A task that went from pending/processing to done/error between two refreshes. */
export type Transition = Task & { state: 'DONE' | 'ERROR' }

/** The first `wanted` tasks of the list, and the answer to the last request that read them. */
export interface Snapshot {
  results: Task[]
  last: PageAnswer
}

/**
 * Reads the first `wanted` tasks from offset 0, in requests of at most REFRESH_CHUNK,
 * following `next` when the server pages smaller, each request conditional on `validators`
 * (which then forget the pages no longer asked for).
 */
export async function readSnapshot(
  url: string,
  wanted: number,
  signal: AbortSignal,
  validators: PageValidators,
  timeout = 0,
): Promise<Snapshot> {
  const results: Task[] = []
  const seen = new Set<string>()
  const asked = new Set<string>()
  let offset = 0
  let last: PageAnswer
  do {
    const size = Math.min(REFRESH_CHUNK, wanted - results.length)
    last = await fetchTaskPage(url, size, offset, signal, validators, timeout)
    asked.add(last.url)
    const before = results.length
    for (const task of last.page.results) {
      if (!seen.has(task.uuid)) {
        seen.add(task.uuid)
        results.push(task)
      }
    }
    offset += last.page.results.length
    // A page that adds nothing new would make the loop spin forever.
    if (results.length === before) break
  } while (results.length < wanted && last.page.next !== null)
  validators.retain(asked)
  return { results, last }
}

/** The same task objects in the same order: pages answered 304 bring back the very objects shown. */
export function sameTasks(a: Task[], b: Task[]): boolean {
  return a.length === b.length && a.every((task, index) => task === b[index])
}

/** `shown` followed by the tasks of `more` it does not have yet. */
export function appendNew(shown: Task[], more: Task[]): Task[] {
  const known = new Set(shown.map((task) => task.uuid))
  return [...shown, ...more.filter((task) => !known.has(task.uuid))]
}

/** The tasks that were pending or processing in `previous` and are done or failed in `current`;
 * a cancelled one tells of nothing (no notice, announcement or browser notification). */
export function finishedSince(previous: Task[], current: Task[]): Transition[] {
  const before = new Map(previous.map((task) => [task.uuid, task]))
  return current.filter((task): task is Transition => {
    const old = before.get(task.uuid)
    return old !== undefined && isActive(old) && (task.state === 'DONE' || task.state === 'ERROR')
  })
}
