import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { csrfToken, postTask } from '../src/actions'
import type { Task, TaskPage } from '../src/types'
import { cleanUp, fakeFetch, type FetchCall, jsonResponse, makePage, makeTask, mountViewer, open, settle, text, wait } from './helpers'

const LIST = 'http://localhost:3000/api/tasks/'

function setCookie(value: string): void {
  document.cookie = value
}

function clearCookies(): void {
  for (const cookie of document.cookie.split(';')) {
    const name = cookie.split('=')[0]!.trim()
    if (name) document.cookie = `${name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT`
  }
}

function headers(call: FetchCall): Record<string, string> {
  return call.init.headers as Record<string, string>
}

describe('the CSRF token', () => {
  it('is the mount element’s data-csrf-token, which wins over the cookie', () => {
    const element = document.createElement('div')
    element.dataset.csrfToken = 'from-attribute'
    expect(csrfToken(element, 'csrftoken=from-cookie')).toBe('from-attribute')
  })

  it('is the csrftoken cookie among the others', () => {
    expect(csrfToken(null, 'sessionid=abc; csrftoken=tok123; theme=dark')).toBe('tok123')
    expect(csrfToken(null, 'csrftoken=first')).toBe('first')
    expect(csrfToken(undefined, 'a=1;csrftoken=x%2By;b=2')).toBe('x+y')
    // Another cookie whose name ends the same is not it.
    expect(csrfToken(null, 'mycsrftoken=wrong; csrftoken=right')).toBe('right')
    expect(csrfToken(null, 'mycsrftoken=wrong')).toBeNull()
  })

  it('falls back to the cookie when the attribute is empty, and reads document.cookie by default', () => {
    const element = document.createElement('div')
    element.dataset.csrfToken = ' '
    setCookie('csrftoken=in-document')
    try {
      expect(csrfToken(element)).toBe('in-document')
    } finally {
      clearCookies()
    }
  })

  it('is null without either, and kept as is when it is not valid percent-encoding', () => {
    expect(csrfToken(document.createElement('div'), 'sessionid=abc')).toBeNull()
    expect(csrfToken(null, '')).toBeNull()
    expect(csrfToken(null, 'csrftoken=')).toBeNull()
    expect(csrfToken(null, 'csrftoken=%E0%A4%A')).toBe('%E0%A4%A')
  })
})

describe('postTask', () => {
  it('POSTs to the path under the list, with the token and the list’s credentials', async () => {
    const calls = fakeFetch(() => jsonResponse({}, 202))
    const answer = await postTask('/api/tasks/', 'abc/cancel/', 'tok', 15)
    expect(answer.status).toBe(202)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.url.href).toBe(`${LIST}abc/cancel/`)
    expect(calls[0]!.init.method).toBe('POST')
    expect(calls[0]!.init.credentials).toBe('same-origin')
    expect(headers(calls[0]!)['X-CSRFToken']).toBe('tok')
  })

  it('sends it without the header when there is no token, and with credentials to another origin', async () => {
    const calls = fakeFetch(() => jsonResponse({ dismissed: 0 }))
    await postTask('https://api.example.org/osis_async/tasks/', 'dismiss-finished/', null)
    expect(calls[0]!.url.href).toBe('https://api.example.org/osis_async/tasks/dismiss-finished/')
    expect(calls[0]!.init.credentials).toBe('include')
    expect(headers(calls[0]!)).not.toHaveProperty('X-CSRFToken')
  })

  it('gives up after the timeout', async () => {
    vi.useFakeTimers()
    try {
      fakeFetch(
        (_url, init) =>
          new Promise((_resolve, reject) => init.signal?.addEventListener('abort', () => reject(new DOMException('', 'AbortError')))),
      )
      const answer = postTask('/api/tasks/', 'abc/dismiss/', 'tok', 15).catch((error: unknown) => error)
      await vi.advanceTimersByTimeAsync(15_000)
      expect(((await answer) as Error).name).toBe('AbortError')
    } finally {
      vi.useRealTimers()
    }
  })
})

/** A server: the list answers `list()` (a page, or a promise left hanging), the POSTs `post`. */
function serve(list: () => TaskPage | Promise<Response>, post: (call: FetchCall) => Response | Promise<Response>) {
  const calls = fakeFetch((url, init) => {
    if (init.method === 'POST') return post({ url, init })
    const page = list()
    return page instanceof Promise ? page : jsonResponse(page)
  })
  return {
    calls,
    posts: () => calls.filter((call) => call.init.method === 'POST'),
    gets: () => calls.filter((call) => call.init.method !== 'POST'),
  }
}

const hanging = (): Promise<Response> => new Promise<Response>(() => undefined)

function rows(host: HTMLElement): HTMLElement[] {
  return [...host.querySelectorAll<HTMLElement>('.osis-async-task')]
}

function rowOf(host: HTMLElement, name: string): HTMLElement {
  const row = rows(host).find((element) => text(element.querySelector('.osis-async-task__name')) === name)
  if (!row) throw new Error(`no row named ${name}`)
  return row
}

function actionOf(host: HTMLElement, name: string): HTMLButtonElement {
  return rowOf(host, name).querySelector<HTMLButtonElement>('.osis-async-task__action')!
}

function nameOf(button: Element): string {
  return button.getAttribute('aria-label') ?? text(button)
}

function statusOf(host: HTMLElement, name: string): string {
  return text(rowOf(host, name).querySelector('.osis-async-task__status'))
}

function cancelError(host: HTMLElement, name: string): string {
  return text(rowOf(host, name).querySelector('[role="status"]'))
}

describe('in the viewer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    vi.spyOn(console, 'warn').mockImplementation(() => undefined)
  })

  afterEach(() => {
    cleanUp()
    clearCookies()
    vi.useRealTimers()
  })

  describe('cancel', () => {
    it('is a button on each running task, named after it, and none on a finished one', async () => {
      const pending = makeTask({ name: 'Export', state: 'PENDING' })
      const processing = makeTask({ name: 'Import', state: 'PROCESSING', progression: 40 })
      const done = makeTask({ name: 'Report', state: 'DONE' })
      serve(() => makePage([pending, processing, done]), hanging)
      const { host } = await mountViewer()
      open(host)
      await settle()
      const cancels = [...host.querySelectorAll<HTMLButtonElement>('.osis-async-task__cancel')]
      expect(cancels.map((button) => [button.tagName, button.type, text(button), nameOf(button)])).toEqual([
        ['BUTTON', 'button', 'Cancel', 'Cancel Export'],
        ['BUTTON', 'button', 'Cancel', 'Cancel Import'],
      ])
      expect(cancels.every((button) => !button.disabled && button.tabIndex === 0)).toBe(true)
      expect(rowOf(host, 'Report').querySelector('.osis-async-task__cancel')).toBeNull()
    })

    it('POSTs the cancel with the cookie’s token, shows "Cancelling…" until the task has stopped', async () => {
      setCookie('csrftoken=cookie-token')
      const task = makeTask({ name: 'Import', state: 'PROCESSING', progression: 40 })
      let listed: Task = task
      let answer: (response: Response) => void = () => undefined
      const server = serve(
        () => makePage([listed]),
        () => new Promise<Response>((resolve) => (answer = resolve)),
      )
      const { host } = await mountViewer()
      const toggle = open(host)
      await settle()
      const button = actionOf(host, 'Import')
      button.click()
      await settle()

      const [post] = server.posts()
      expect(server.posts()).toHaveLength(1)
      expect(post!.url.href).toBe(`${LIST}${task.uuid}/cancel/`)
      expect(post!.init.credentials).toBe('same-origin')
      expect(headers(post!)['X-CSRFToken']).toBe('cookie-token')
      // From the click on, before any answer.
      expect(text(rowOf(host, 'Import'))).toContain('Cancelling…')
      expect(button.getAttribute('aria-disabled')).toBe('true')
      expect(nameOf(button)).toBe('Cancelling…')
      button.click()
      await settle()
      expect(server.posts()).toHaveLength(1)
      expect(toggle.getAttribute('aria-expanded')).toBe('true')

      const gets = server.gets().length
      listed = { ...task, cancel_requested: true }
      answer(jsonResponse(listed, 202))
      await settle()
      expect(server.gets()).toHaveLength(gets + 1)
      expect(text(actionOf(host, 'Import'))).toBe('Cancelling…')

      // The job goes on for a while: still "Cancelling…".
      listed = { ...task, progression: 60, cancel_requested: true }
      await wait(5)
      expect(statusOf(host, 'Import')).toBe('60%')
      expect(text(actionOf(host, 'Import'))).toBe('Cancelling…')

      listed = { ...task, state: 'CANCELLED', cancel_requested: false, completed_at: new Date().toISOString() }
      await wait(5)
      expect(statusOf(host, 'Import')).toBe('Cancelled')
      expect(text(rowOf(host, 'Import'))).not.toContain('Cancelling…')
      // The same button now dismisses the task.
      expect(actionOf(host, 'Import')).toBe(button)
      expect(nameOf(button)).toBe('Dismiss Import')
      expect(button.hasAttribute('aria-disabled')).toBe(false)
    })

    it('sends data-csrf-token, which wins over the cookie', async () => {
      setCookie('csrftoken=cookie-token')
      const task = makeTask({ name: 'Import', state: 'PROCESSING', progression: 40 })
      const server = serve(() => makePage([task]), () => jsonResponse({ ...task, cancel_requested: true }, 202))
      const { host } = await mountViewer({ 'data-csrf-token': 'attribute-token' })
      open(host)
      await settle()
      actionOf(host, 'Import').click()
      await settle()
      expect(headers(server.posts()[0]!)['X-CSRFToken']).toBe('attribute-token')
    })

    it('shows a pending task cancelled as soon as the server answers', async () => {
      const task = makeTask({ name: 'Export', state: 'PENDING', progression: 0 })
      let refreshed = false
      serve(
        () => {
          if (refreshed) return hanging()
          return makePage([task])
        },
        () => {
          refreshed = true
          return jsonResponse({ ...task, state: 'CANCELLED', completed_at: new Date().toISOString() }, 202)
        },
      )
      const { host } = await mountViewer()
      open(host)
      await settle()
      expect(statusOf(host, 'Export')).toBe('Pending')
      actionOf(host, 'Export').click()
      await settle()
      // The refresh has not been answered: the 202's item is what is shown.
      expect(statusOf(host, 'Export')).toBe('Cancelled')
      expect(rowOf(host, 'Export').classList).toContain('osis-async-task--cancelled')
      expect(nameOf(actionOf(host, 'Export'))).toBe('Dismiss Export')
      expect(text(host.querySelector('.osis-async__clear'))).toBe('Clear finished')
    })

    it('shows "Cancelling…" for a task another tab asked to cancel', async () => {
      serve(() => makePage([makeTask({ name: 'Import', state: 'PROCESSING', progression: 40, cancel_requested: true })]), hanging)
      const { host } = await mountViewer()
      open(host)
      await settle()
      const button = actionOf(host, 'Import')
      expect(text(button)).toBe('Cancelling…')
      expect(button.getAttribute('aria-disabled')).toBe('true')
    })

    it.each([
      ['a server error', () => jsonResponse({ detail: 'oops' }, 500)],
      ['a refused token', () => jsonResponse({ detail: 'CSRF' }, 403)],
      ['a busy server', () => jsonResponse({ detail: 'busy' }, 503, { 'Retry-After': '30' })],
      ['a network failure', () => Promise.reject(new TypeError('Failed to fetch'))],
    ])('after %s, puts the row back and says it could not cancel', async (_case, failure) => {
      let task = makeTask({ name: 'Import', state: 'PROCESSING', progression: 40 })
      // The first cancel fails; the second is left for the test to answer.
      let answer: (response: Response) => void = () => undefined
      let tries = 0
      const server = serve(
        () => makePage([task]),
        () => {
          tries += 1
          return tries === 1 ? failure() : new Promise<Response>((resolve) => (answer = resolve))
        },
      )
      const { host } = await mountViewer()
      const toggle = open(host)
      await settle()
      expect(cancelError(host, 'Import')).toBe('')
      const gets = server.gets().length
      actionOf(host, 'Import').click()
      await settle()

      const button = actionOf(host, 'Import')
      expect(text(button)).toBe('Cancel')
      expect(nameOf(button)).toBe('Cancel Import')
      expect(button.hasAttribute('aria-disabled')).toBe(false)
      const status = rowOf(host, 'Import').querySelector('.osis-async-task__cancel-error')!
      expect(status.getAttribute('role')).toBe('status')
      expect(text(status)).toBe('Could not cancel this task.')
      expect(toggle.getAttribute('aria-expanded')).toBe('true')
      // No refresh of its own: the feed goes on as before.
      expect(server.gets()).toHaveLength(gets)
      task = { ...task, progression: 70 }
      await wait(5)
      expect(statusOf(host, 'Import')).toBe('70%')
      expect(cancelError(host, 'Import')).toBe('Could not cancel this task.')

      // Asked again, the error goes at the press, before any answer.
      actionOf(host, 'Import').click()
      await settle()
      expect(server.posts()).toHaveLength(2)
      expect(cancelError(host, 'Import')).toBe('')
      expect(text(rowOf(host, 'Import'))).not.toContain('Could not cancel this task.')
      expect(text(actionOf(host, 'Import'))).toBe('Cancelling…')
      expect(actionOf(host, 'Import').getAttribute('aria-disabled')).toBe('true')

      // The server takes it this time: still no error, and the row keeps "Cancelling…".
      task = { ...task, cancel_requested: true }
      answer(jsonResponse(task, 202))
      await settle()
      expect(server.gets()).toHaveLength(gets + 2)
      expect(cancelError(host, 'Import')).toBe('')
      expect(text(rowOf(host, 'Import'))).not.toContain('Could not cancel this task.')
      expect(text(actionOf(host, 'Import'))).toBe('Cancelling…')
    })

    it('on a 404 says it could not cancel, and reads the list again once', async () => {
      const task = makeTask({ name: 'Import', state: 'PROCESSING', progression: 40 })
      const other = makeTask({ name: 'Export', state: 'PROCESSING', progression: 10 })
      let refresh: (response: Response) => void = () => undefined
      let posted = false
      const server = serve(
        () => (posted ? new Promise<Response>((resolve) => (refresh = resolve)) : makePage([task, other])),
        () => {
          posted = true
          return jsonResponse({ detail: 'Not found.' }, 404)
        },
      )
      const { host } = await mountViewer()
      const toggle = open(host)
      await settle()
      const gets = server.gets().length
      actionOf(host, 'Import').click()
      await settle()

      // The error text first, while the refresh is on its way.
      expect(server.posts()).toHaveLength(1)
      expect(server.gets()).toHaveLength(gets + 1)
      expect(server.gets().at(-1)!.url.pathname).toBe('/api/tasks/')
      const button = actionOf(host, 'Import')
      expect(text(button)).toBe('Cancel')
      expect(nameOf(button)).toBe('Cancel Import')
      expect(button.hasAttribute('aria-disabled')).toBe(false)
      const status = rowOf(host, 'Import').querySelector('.osis-async-task__cancel-error')!
      expect(status.getAttribute('role')).toBe('status')
      expect(text(status)).toBe('Could not cancel this task.')
      expect(cancelError(host, 'Export')).toBe('')
      expect(toggle.getAttribute('aria-expanded')).toBe('true')

      // The list no longer has the task: its row goes, and no other refresh is asked.
      refresh(jsonResponse(makePage([other])))
      await settle()
      expect(rows(host).map((row) => text(row.querySelector('.osis-async-task__name')))).toEqual(['Export'])
      expect(text(host.querySelector('.osis-async__panel'))).not.toContain('Could not cancel this task.')
      await settle()
      expect(server.gets()).toHaveLength(gets + 1)
      expect(server.posts()).toHaveLength(1)
    })

    it('on a 409 (finished meanwhile) refreshes, and shows "Cancelling…" until the list has it finished', async () => {
      const task = makeTask({ name: 'Import', state: 'PROCESSING', progression: 95 })
      let listed: Task = task
      let refresh: (response: Response) => void = () => undefined
      const server = serve(
        () => (listed === task ? makePage([task]) : new Promise<Response>((resolve) => (refresh = resolve))),
        () => jsonResponse({ detail: 'finished', state: 'DONE' }, 409),
      )
      const { host } = await mountViewer()
      open(host)
      await settle()
      const gets = server.gets().length
      listed = { ...task, state: 'DONE', progression: 100 }
      actionOf(host, 'Import').click()
      await settle()
      expect(server.gets()).toHaveLength(gets + 1)
      expect(text(actionOf(host, 'Import'))).toBe('Cancelling…')
      expect(cancelError(host, 'Import')).toBe('')
      refresh(jsonResponse(makePage([listed])))
      await settle()
      expect(statusOf(host, 'Import')).toBe('Done')
      expect(nameOf(actionOf(host, 'Import'))).toBe('Dismiss Import')
    })

    it('raises no notice when the task ends cancelled', async () => {
      const shown: string[] = []
      vi.stubGlobal(
        'Notification',
        class {
          static permission = 'granted'
          constructor(title: string) {
            shown.push(title)
          }
          addEventListener(): void {}
        },
      )
      vi.spyOn(document, 'hidden', 'get').mockReturnValue(true)
      const task = makeTask({ name: 'Import', state: 'PROCESSING', progression: 40 })
      let listed: Task = task
      serve(
        () => makePage([listed]),
        () => {
          listed = { ...task, cancel_requested: true }
          return jsonResponse(listed, 202)
        },
      )
      const { host } = await mountViewer({ 'data-notify': 'browser' })
      open(host)
      await settle()
      actionOf(host, 'Import').click()
      await settle()
      listed = { ...task, state: 'CANCELLED', completed_at: new Date().toISOString() }
      await wait(5)
      expect(statusOf(host, 'Import')).toBe('Cancelled')
      expect(host.querySelector('.osis-async__notice')).toBeNull()
      expect(text(host.querySelector('.osis-async > [aria-live="polite"]'))).toBe('')
      expect(shown).toEqual([])
    })

    it('stops waiting for an answer when the viewer goes', async () => {
      const task = makeTask({ name: 'Import', state: 'PROCESSING', progression: 40 })
      const server = serve(() => makePage([task]), hanging)
      const { host, viewer } = await mountViewer()
      open(host)
      await settle()
      actionOf(host, 'Import').click()
      await settle()
      const signal = server.posts()[0]!.init.signal!
      expect(signal.aborted).toBe(false)
      viewer.unmount()
      expect(signal.aborted).toBe(true)
    })
  })

  describe('dismiss', () => {
    it('is a button on each finished task, named after it', async () => {
      serve(
        () =>
          makePage([
            makeTask({ name: 'Report', state: 'DONE' }),
            makeTask({ name: 'Export', state: 'ERROR' }),
            makeTask({ name: 'Import', state: 'CANCELLED' }),
            makeTask({ name: 'Running', state: 'PROCESSING', progression: 10 }),
          ]),
        hanging,
      )
      const { host } = await mountViewer()
      open(host)
      await settle()
      const dismisses = [...host.querySelectorAll<HTMLButtonElement>('.osis-async-task__dismiss')]
      expect(dismisses.map((button) => [button.tagName, button.type, nameOf(button), button.title])).toEqual([
        ['BUTTON', 'button', 'Dismiss Report', 'Dismiss Report'],
        ['BUTTON', 'button', 'Dismiss Export', 'Dismiss Export'],
        ['BUTTON', 'button', 'Dismiss Import', 'Dismiss Import'],
      ])
      expect(rowOf(host, 'Running').querySelector('.osis-async-task__dismiss')).toBeNull()
    })

    it('takes the row out at once on 204, refreshes, and keeps the panel open with the focus', async () => {
      setCookie('csrftoken=cookie-token')
      const report = makeTask({ name: 'Report', state: 'DONE' })
      const other = makeTask({ name: 'Other', state: 'DONE' })
      let dismissed = false
      const server = serve(
        () => (dismissed ? hanging() : makePage([report, other])),
        () => {
          dismissed = true
          return { ...jsonResponse(null, 204), json: () => Promise.reject(new SyntaxError('no body')) } as Response
        },
      )
      const { host } = await mountViewer()
      const toggle = open(host)
      await settle()
      const button = actionOf(host, 'Report')
      button.focus()
      button.click()
      await settle()

      const [post] = server.posts()
      expect(post!.url.href).toBe(`${LIST}${report.uuid}/dismiss/`)
      expect(post!.init.method).toBe('POST')
      expect(post!.init.credentials).toBe('same-origin')
      expect(headers(post!)['X-CSRFToken']).toBe('cookie-token')
      expect(rows(host).map((row) => text(row.querySelector('.osis-async-task__name')))).toEqual(['Other'])
      expect(server.gets().at(-1)!.url.pathname).toBe('/api/tasks/')
      expect(toggle.getAttribute('aria-expanded')).toBe('true')
      expect(document.activeElement).toBe(host.querySelector('.osis-async__panel'))
    })

    it('keeps the row when the server refuses', async () => {
      const server = serve(() => makePage([makeTask({ name: 'Report', state: 'DONE' })]), () => jsonResponse({}, 500))
      const { host } = await mountViewer()
      open(host)
      await settle()
      const gets = server.gets().length
      actionOf(host, 'Report').click()
      await settle()
      expect(rows(host)).toHaveLength(1)
      expect(actionOf(host, 'Report').hasAttribute('aria-disabled')).toBe(false)
      expect(server.gets()).toHaveLength(gets)
    })

    it('is sent once while it is on its way', async () => {
      const server = serve(() => makePage([makeTask({ name: 'Report', state: 'DONE' })]), hanging)
      const { host } = await mountViewer()
      open(host)
      await settle()
      actionOf(host, 'Report').click()
      await settle()
      expect(actionOf(host, 'Report').getAttribute('aria-disabled')).toBe('true')
      actionOf(host, 'Report').click()
      await settle()
      expect(server.posts()).toHaveLength(1)
    })
  })

  describe('Clear finished', () => {
    it('is not there while no task has finished', async () => {
      serve(() => makePage([makeTask({ state: 'PROCESSING', progression: 10 }), makeTask({ state: 'PENDING' })]), hanging)
      const { host } = await mountViewer()
      open(host)
      await settle()
      expect(host.querySelector('.osis-async__clear')).toBeNull()
      expect(text(host.querySelector('.osis-async__panel'))).not.toContain('Clear finished')
    })

    it('posts once, takes the finished tasks out and refreshes', async () => {
      setCookie('csrftoken=cookie-token')
      const running = makeTask({ name: 'Running', state: 'PROCESSING', progression: 10 })
      const tasks = [running, makeTask({ name: 'Done', state: 'DONE' }), makeTask({ name: 'Failed', state: 'ERROR' })]
      let answer: (response: Response) => void = () => undefined
      let cleared = false
      const server = serve(
        () => (cleared ? hanging() : makePage(tasks)),
        () => new Promise<Response>((resolve) => (answer = resolve)),
      )
      const { host } = await mountViewer()
      const toggle = open(host)
      await settle()
      const clear = host.querySelector<HTMLButtonElement>('.osis-async__clear')!
      expect([clear.tagName, clear.type, text(clear)]).toEqual(['BUTTON', 'button', 'Clear finished'])
      // At the foot of the list.
      expect(host.querySelector('.osis-async__list')!.compareDocumentPosition(clear) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy()
      clear.focus()
      clear.click()
      await settle()
      expect(clear.getAttribute('aria-disabled')).toBe('true')
      clear.click()
      await settle()
      expect(server.posts()).toHaveLength(1)
      const [post] = server.posts()
      expect(post!.url.href).toBe(`${LIST}dismiss-finished/`)
      expect(post!.init.method).toBe('POST')
      expect(post!.init.credentials).toBe('same-origin')
      expect(headers(post!)['X-CSRFToken']).toBe('cookie-token')

      cleared = true
      const gets = server.gets().length
      answer(jsonResponse({ dismissed: 2 }))
      await settle()
      expect(rows(host).map((row) => text(row.querySelector('.osis-async-task__name')))).toEqual(['Running'])
      expect(host.querySelector('.osis-async__clear')).toBeNull()
      expect(server.gets()).toHaveLength(gets + 1)
      expect(toggle.getAttribute('aria-expanded')).toBe('true')
      expect(document.activeElement).toBe(host.querySelector('.osis-async__panel'))
    })

    it('takes nothing out when the server refuses', async () => {
      setCookie('csrftoken=cookie-token')
      serve(() => makePage([makeTask({ name: 'Done', state: 'DONE' })]), () => jsonResponse({ detail: 'CSRF' }, 403))
      const { host } = await mountViewer()
      open(host)
      await settle()
      host.querySelector<HTMLButtonElement>('.osis-async__clear')!.click()
      await settle()
      expect(rows(host)).toHaveLength(1)
      expect(host.querySelector('.osis-async__clear')!.hasAttribute('aria-disabled')).toBe(false)
    })
  })

  describe('a cancelled task', () => {
    it('says "Cancelled" with a muted bar that tells no progress', async () => {
      vi.setSystemTime(new Date('2025-03-14T10:00:00Z'))
      serve(
        () =>
          makePage([
            makeTask({ name: 'Import', state: 'CANCELLED', progression: 40, started_at: '2025-03-14T09:50:00Z', completed_at: '2025-03-14T09:58:00Z' }),
          ]),
        hanging,
      )
      const { host } = await mountViewer()
      open(host)
      await settle()
      const row = rowOf(host, 'Import')
      expect(row.classList).toContain('osis-async-task--cancelled')
      expect(statusOf(host, 'Import')).toBe('Cancelled')
      expect(text(row.querySelector('time'))).toMatch(/^Cancelled .* \(2 minutes ago\)$/)
      const bar = row.querySelector('[role="progressbar"]')!
      expect(bar.classList).toContain('osis-async-progress--cancelled')
      expect(bar.classList).not.toContain('osis-async-progress--done')
      expect(bar.classList).not.toContain('osis-async-progress--error')
      expect(bar.hasAttribute('aria-valuenow')).toBe(false)
      expect(bar.getAttribute('aria-valuetext')).toBe('Cancelled')
      expect(row.querySelector('.osis-async-task__error')).toBeNull()
      expect(row.querySelector('.osis-async-task__result')).toBeNull()
    })

    it('is not counted as running', async () => {
      document.title = 'My page'
      const cancelled = [
        makeTask({ name: 'Import', state: 'CANCELLED', progression: 40, completed_at: new Date().toISOString() }),
        makeTask({ name: 'Export', state: 'CANCELLED', progression: 0, completed_at: new Date().toISOString() }),
      ]
      // The server's pending_count counts PENDING and PROCESSING only, as makePage does: 0 here.
      const server = serve(() => makePage(cancelled), hanging)
      const { host } = await mountViewer({ 'data-interval': '60', 'data-title-badge': '' })
      await settle()
      expect(server.gets()).toHaveLength(1)
      const toggle = host.querySelector('.osis-async__toggle')!
      expect(toggle.querySelector('.osis-async__badge')).toBeNull()
      expect(text(toggle)).toBe('Background tasks')
      expect(document.title).toBe('My page')
      open(host)
      await settle()
      expect(rows(host).map((row) => statusOf(host, text(row.querySelector('.osis-async-task__name'))))).toEqual(['Cancelled', 'Cancelled'])
      expect(host.querySelector('.osis-async-task__cancel')).toBeNull()
      // Nothing running: the list is read every data-interval, not every 5 seconds.
      await wait(5)
      expect(server.gets()).toHaveLength(1)
      await wait(55)
      expect(server.gets()).toHaveLength(2)
      expect(toggle.querySelector('.osis-async__badge')).toBeNull()
    })
  })

  describe('in French', () => {
    it('says all of it in French', async () => {
      document.documentElement.lang = 'fr'
      const running = makeTask({ name: 'Import', state: 'PROCESSING', progression: 40 })
      serve(
        () =>
          makePage([
            running,
            makeTask({ name: 'Export', state: 'PROCESSING', progression: 10, cancel_requested: true }),
            makeTask({ name: 'Rapport', state: 'CANCELLED' }),
          ]),
        () => jsonResponse({}, 500),
      )
      const { host } = await mountViewer()
      open(host)
      await settle()
      expect([text(actionOf(host, 'Import')), nameOf(actionOf(host, 'Import'))]).toEqual(['Annuler', 'Annuler Import'])
      expect(text(actionOf(host, 'Export'))).toBe('Annulation…')
      expect(statusOf(host, 'Rapport')).toBe('Annulée')
      expect(nameOf(actionOf(host, 'Rapport'))).toBe('Retirer Rapport')
      expect(text(host.querySelector('.osis-async__clear'))).toBe('Retirer les tâches terminées')
      actionOf(host, 'Import').click()
      await settle()
      expect(cancelError(host, 'Import')).toBe('Impossible d\'annuler cette tâche.')
    })
  })
})

describe('useTaskActions', () => {
  afterEach(() => vi.useRealTimers())

  it('sends one cancel per task at a time, and forgets it once the task has left the list', async () => {
    const { effectScope, shallowRef } = await import('vue')
    const { useTaskActions } = await import('../src/composables/useTaskActions')
    const task = makeTask({ state: 'PROCESSING', progression: 10 })
    const calls = fakeFetch(() => new Promise<Response>(() => undefined))
    const tasks = shallowRef<Task[]>([task])
    const scope = effectScope(true)
    const actions = scope.run(() => useTaskActions(tasks, async () => undefined, { url: '/api/tasks/', timeout: 0, token: () => null }))!
    void actions.cancel(task)
    void actions.cancel(task)
    await settle()
    expect(calls).toHaveLength(1)
    expect(actions.cancelling.has(task.uuid)).toBe(true)
    tasks.value = []
    await settle()
    expect(actions.cancelling.has(task.uuid)).toBe(false)
    scope.stop()
    expect(calls[0]!.init.signal!.aborted).toBe(true)
  })
})
