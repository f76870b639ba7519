import { createApp, type App } from 'vue'
import TasksViewer from './components/TasksViewer.vue'
import { createTranslator, TRANSLATOR } from './i18n'
import { DEFAULT_TIMEOUT } from './taskFeed'
import type { ViewerOptions } from './types'

export const DEFAULT_INTERVAL = 300
export const DEFAULT_LIMIT = 15
export const MAX_LIMIT = 100
/** Elements the widget mounts on by itself. */
export const AUTO_MOUNT_SELECTOR = '#async-tasks-viewer, [data-osis-async-viewer]'

export interface MountedViewer {
  /** Fetches the tasks now. */
  refresh(): Promise<void>
  unmount(): void
}

const mounted = new WeakMap<Element, MountedViewer>()
let instances = 0

function positiveInteger(value: unknown, fallback: number, max = Infinity): number {
  const number = typeof value === 'number' ? value : Number.parseInt(String(value ?? ''), 10)
  return Number.isFinite(number) && number > 0 ? Math.min(Math.floor(number), max) : fallback
}

/** Reads `data-url`, `data-interval`, `data-limit`, `data-lang`, `data-stream`, `data-timeout`,
 * `data-notify` and `data-title-badge` from an element. */
export function optionsFromElement(element: HTMLElement): ViewerOptions {
  const { url = '', interval, limit, lang, stream, timeout, notify, titleBadge } = element.dataset
  return {
    timeout: positiveInteger(timeout, DEFAULT_TIMEOUT),
    notify: notify?.trim().toLowerCase() === 'browser' ? 'browser' : undefined,
    titleBadge: titleBadge !== undefined && titleBadge.trim().toLowerCase() !== 'false',
    url,
    interval: positiveInteger(interval, DEFAULT_INTERVAL),
    limit: positiveInteger(limit, DEFAULT_LIMIT, MAX_LIMIT),
    lang,
    stream: stream?.trim().toLowerCase() !== 'false',
  }
}

/** Mounts a viewer on `element`; options not given are read from its data attributes. */
export function mount(element: HTMLElement, options: Partial<ViewerOptions> = {}): MountedViewer {
  const existing = mounted.get(element)
  if (existing) return existing

  const fromElement = optionsFromElement(element)
  const url = options.url ?? fromElement.url
  if (!url) throw new Error('osis-async: the viewer needs a URL (data-url)')

  instances += 1
  const app: App = createApp(TasksViewer, {
    url,
    interval: positiveInteger(options.interval, fromElement.interval ?? DEFAULT_INTERVAL),
    limit: positiveInteger(options.limit, fromElement.limit ?? DEFAULT_LIMIT, MAX_LIMIT),
    stream: options.stream ?? fromElement.stream ?? true,
    timeout: positiveInteger(options.timeout, fromElement.timeout ?? DEFAULT_TIMEOUT),
    notify: (options.notify ?? fromElement.notify) === 'browser',
    titleBadge: options.titleBadge ?? fromElement.titleBadge ?? false,
    idPrefix: `osis-async-${instances}`,
  })
  app.provide(TRANSLATOR, createTranslator(options.lang ?? fromElement.lang ?? document.documentElement.lang))
  const component = app.mount(element) as unknown as { refresh(): Promise<void> }

  const viewer: MountedViewer = {
    refresh: () => component.refresh(),
    unmount() {
      app.unmount()
      mounted.delete(element)
    },
  }
  mounted.set(element, viewer)
  return viewer
}

/** Mounts a viewer on every matching element of the page that has none yet. */
export function mountAll(root: ParentNode = document): MountedViewer[] {
  const viewers: MountedViewer[] = []
  for (const element of root.querySelectorAll<HTMLElement>(AUTO_MOUNT_SELECTOR)) {
    try {
      viewers.push(mount(element))
    } catch (error) {
      console.error(error)
    }
  }
  return viewers
}
