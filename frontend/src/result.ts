import type { Translator } from './i18n'
import type { Task } from './types'

/** How a `DONE` task's result is offered: where it opens, its text and its accessible name. */
export interface ResultLink {
  url: string
  /** A file from the result view, downloaded rather than opened in a new tab. */
  file: boolean
  text: string
  accessible: string
}

/** The result a task offers, or null when it is not done or has none. */
export function resultLink(task: Task, { gettext, interpolate }: Pick<Translator, 'gettext' | 'interpolate'>): ResultLink | null {
  const { state, result_url: url, result_label: label, uuid, name } = task
  if (state !== 'DONE' || !url) return null
  const file = url.endsWith(`/tasks/${uuid}/result/`)
  const text = label || (file ? gettext('Download') : gettext('Open'))
  return { url, file, text, accessible: interpolate(gettext('%(action)s: %(name)s'), { action: text, name }) }
}
