import { nextTick } from 'vue'
import { vi } from 'vitest'
import { mount, type MountedViewer } from '../src/mount'
import type { Task, TaskPage, TaskState } from '../src/types'

let counter = 0

export function makeTask(overrides: Partial<Task> = {}): Task {
  counter += 1
  return {
    uuid: `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`,
    name: `Task ${counter}`,
    description: `Description ${counter}`,
    state: 'DONE' as TaskState,
    progression: 100,
    created_at: new Date(Date.now() - 120_000).toISOString(),
    started_at: null,
    completed_at: null,
    result_url: null,
    result_label: null,
    error_message: null,
    cancel_requested: false,
    ...overrides,
  }
}

export function makePage(results: Task[], overrides: Partial<TaskPage> = {}): TaskPage {
  return {
    count: results.length,
    pending_count: results.filter((task) => task.state === 'PENDING' || task.state === 'PROCESSING').length,
    next: null,
    previous: null,
    results,
    ...overrides,
  }
}

/** A minimal stand-in for the Response the widget reads. */
export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return {
    ok: status >= 200 && status < 300,
    status,
    headers: new Headers(headers),
    json: async () => body,
  } as Response
}

/** `304 Not Modified`: no body. */
export function notModified(headers: Record<string, string> = {}): Response {
  return {
    ok: false,
    status: 304,
    headers: new Headers(headers),
    json: () => Promise.reject(new SyntaxError('Unexpected end of JSON input')),
  } as Response
}

export interface FetchCall {
  url: URL
  init: RequestInit
}

/** Replaces `fetch`; `answer` gets each request and returns its response (or throws). */
export function fakeFetch(answer: (url: URL, init: RequestInit) => Response | Promise<Response>) {
  const calls: FetchCall[] = []
  const spy = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input))
    calls.push({ url, init })
    return answer(url, init)
  })
  vi.stubGlobal('fetch', spy)
  return calls
}

/** Serves `pages` in turn, one per request; the last one is repeated. */
export function servePages(...pages: (TaskPage | Error | number)[]) {
  let index = 0
  return fakeFetch(() => {
    const page = pages[Math.min(index, pages.length - 1)]
    index += 1
    if (page instanceof Error) throw page
    if (typeof page === 'number') return jsonResponse({ detail: 'error' }, page)
    return jsonResponse(page)
  })
}

/** Lets pending promise chains (fetch, json, Vue's re-render) run to completion. */
/** Lets fake time run `seconds`, then lets the widget settle. */
export async function wait(seconds: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(seconds * 1000)
  await settle()
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i += 1) await Promise.resolve()
  await nextTick()
}

export function createHost(attributes: Record<string, string> = {}): HTMLElement {
  const host = document.createElement('div')
  if (document.getElementById('async-tasks-viewer')) host.dataset.osisAsyncViewer = ''
  else host.id = 'async-tasks-viewer'
  host.dataset.url = '/api/tasks/'
  for (const [name, value] of Object.entries(attributes)) host.setAttribute(name, value)
  document.body.append(host)
  return host
}

const viewers: MountedViewer[] = []

export async function mountViewer(attributes: Record<string, string> = {}) {
  const host = createHost(attributes)
  const viewer = mount(host)
  viewers.push(viewer)
  await settle()
  return { host, viewer }
}

export function cleanUp(): void {
  for (const viewer of viewers.splice(0)) viewer.unmount()
  document.body.innerHTML = ''
  document.documentElement.lang = ''
}

export function text(element: Element | null | undefined): string {
  return (element?.textContent ?? '').replace(/\s+/g, ' ').trim()
}

export function open(host: HTMLElement): HTMLButtonElement {
  const toggle = host.querySelector<HTMLButtonElement>('.osis-async__toggle')!
  if (toggle.getAttribute('aria-expanded') !== 'true') toggle.click()
  return toggle
}

/** The header a list answer carries when the site runs under ASGI. */
export const STREAM_LINK = { Link: '</osis_async/tasks/stream/>; rel="osis-async-stream"' }
export const STREAM_URL = new URL('/osis_async/tasks/stream/', document.baseURI).toString()

type Listener = (event: MessageEvent) => void

/** Stands in for the browser's EventSource; tests make the server's events happen. */
export class FakeEventSource {
  static instances: FakeEventSource[] = []
  readonly withCredentials: boolean
  closed = false
  private readonly listeners = new Map<string, Set<Listener>>()

  constructor(readonly url: string, init: EventSourceInit = {}) {
    this.withCredentials = init.withCredentials ?? false
    FakeEventSource.instances.push(this)
  }

  static get open(): FakeEventSource[] {
    return FakeEventSource.instances.filter((source) => !source.closed)
  }

  addEventListener(name: string, listener: Listener): void {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set())
    this.listeners.get(name)!.add(listener)
  }

  removeEventListener(name: string, listener: Listener): void {
    this.listeners.get(name)?.delete(listener)
  }

  close(): void {
    this.closed = true
  }

  /** The server sends `event: name` (or, for `error`, the connection fails). */
  emit(name: string, data: unknown = {}): void {
    if (this.closed) throw new Error(`event ${name} on a closed EventSource`)
    for (const listener of [...(this.listeners.get(name) ?? [])]) {
      listener(new MessageEvent(name, { data: JSON.stringify(data) }))
    }
  }
}

export function fakeEventSource(): typeof FakeEventSource {
  FakeEventSource.instances = []
  vi.stubGlobal('EventSource', FakeEventSource)
  return FakeEventSource
}

export function setHidden(hidden: boolean): void {
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden })
  document.dispatchEvent(new Event('visibilitychange'))
}
