import type { Translator } from './i18n'
import { isSafeUrl } from './links'
import type { Task } from './types'

/** How a `DONE` task's result is offered: where it opens, its text and its accessible name. */
export interface ResultLink {
  url: string
  /** A file from the result view, downloaded rather than opened in a new tab. */
  file: boolean
  text: string
  accessible: string
}

/**
 * The result a task offers, or null when it is not done or has none. A relative URL is the list
 * server's (`base`, the list's URL), which is another origin when `data-url` is; a URL that is
 * not http, https or a path is never a link, whoever wrote it.
 */
export function resultLink(
  task: Task,
  { gettext, interpolate }: Pick<Translator, 'gettext' | 'interpolate'>,
  base: string = document.baseURI,
): ResultLink | null {
  const { state, result_url: given, result_label: label, uuid, name } = task
  if (state !== 'DONE' || !given || !isSafeUrl(given)) return null
  const file = given.endsWith(`/tasks/${uuid}/result/`)
  const resolved = new URL(given, new URL(base, document.baseURI))
  const url = resolved.origin === window.location.origin ? given : resolved.href
  const text = label || (file ? gettext('Download') : gettext('Open'))
  return { url, file, text, accessible: interpolate(gettext('%(action)s: %(name)s'), { action: text, name }) }
}
