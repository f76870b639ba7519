import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { cleanUp, fakeFetch, jsonResponse, makePage, makeTask, mountViewer, open, servePages, settle, text } from './helpers'

const NOW = new Date('2025-03-14T10:00:00Z')

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  vi.setSystemTime(NOW)
})

afterEach(() => {
  cleanUp()
  vi.useRealTimers()
})

describe('request', () => {
  it('asks for the first page of the list endpoint, as JSON, with the session cookie', async () => {
    const calls = servePages(makePage([]))
    await mountViewer({ 'data-url': '/tasks/?format=json' })

    expect(calls).toHaveLength(1)
    const [{ url, init }] = calls as [(typeof calls)[0]]
    expect(url.pathname).toBe('/tasks/')
    expect(url.searchParams.get('format')).toBe('json')
    expect(url.searchParams.get('limit')).toBe('15')
    expect(url.searchParams.get('offset')).toBe('0')
    expect(init.credentials).toBe('same-origin')
    expect(init.headers).toMatchObject({ Accept: 'application/json' })
  })

  it('uses data-limit as the page size', async () => {
    const calls = servePages(makePage([]))
    await mountViewer({ 'data-limit': '5' })
    expect(calls[0]?.url.searchParams.get('limit')).toBe('5')
  })
})

describe('states', () => {
  it('says it is loading until the first answer', async () => {
    let answer: (response: Response) => void = () => undefined
    fakeFetch(() => new Promise((resolve) => (answer = resolve)))
    const { host } = await mountViewer()
    open(host)
    await settle()
    expect(text(host.querySelector('.osis-async__panel'))).toContain('Loading tasks…')

    answer(jsonResponse(makePage([])))
    await settle()
    expect(text(host.querySelector('.osis-async__panel'))).not.toContain('Loading tasks…')
    expect(text(host.querySelector('.osis-async__panel'))).toContain('No tasks.')
  })

  it('says when the tasks could not be loaded', async () => {
    servePages(new TypeError('Failed to fetch'))
    const { host } = await mountViewer()
    open(host)
    await settle()
    const panel = text(host.querySelector('.osis-async__panel'))
    expect(panel).toContain('The tasks could not be loaded.')
    expect(panel).not.toContain('No tasks.')
  })

  it('treats an answer that is not a task page as a failure', async () => {
    fakeFetch(() => jsonResponse({ detail: 'Not found' }))
    const { host } = await mountViewer()
    expect(host.querySelector('.osis-async__message--error')).not.toBeNull()
  })

  it('treats an answer that is not JSON as a failure', async () => {
    fakeFetch(
      () => ({ ok: true, status: 200, headers: new Headers(), json: () => Promise.reject(new SyntaxError('<html>')) }) as Response,
    )
    const { host } = await mountViewer()
    expect(host.querySelector('.osis-async__message--error')).not.toBeNull()
  })
})

describe('badge', () => {
  it('shows the pending count and hides at zero', async () => {
    const running = makeTask({ state: 'PROCESSING', progression: 10 })
    servePages(makePage([running], { pending_count: 3 }), makePage([{ ...running, state: 'DONE' }], { pending_count: 0 }))
    const { host } = await mountViewer()

    expect(text(host.querySelector('.osis-async__badge'))).toBe('3')
    expect(text(host.querySelector('.osis-async__toggle'))).toContain('3 tasks in progress')

    await vi.advanceTimersByTimeAsync(5000)
    await settle()
    expect(host.querySelector('.osis-async__badge')).toBeNull()
    expect(text(host.querySelector('.osis-async__toggle'))).toBe('Background tasks')
  })

  it('uses the singular for one task', async () => {
    servePages(makePage([makeTask({ state: 'PENDING' })]))
    const { host } = await mountViewer()
    expect(text(host.querySelector('.osis-async__toggle'))).toContain('1 task in progress')
  })
})

describe('a task', () => {
  it('shows its name, description and a date line with a relative time', async () => {
    const task = makeTask({
      name: 'Export of the students',
      description: '1200 rows',
      state: 'DONE',
      created_at: '2025-03-14T09:50:00Z',
      started_at: '2025-03-14T09:55:00Z',
      completed_at: '2025-03-14T09:58:00+00:00',
    })
    servePages(makePage([task]))
    const { host } = await mountViewer()
    open(host)
    await settle()

    const item = host.querySelector('.osis-async-task')
    expect(text(item?.querySelector('.osis-async-task__name'))).toBe('Export of the students')
    expect(text(item?.querySelector('.osis-async-task__description'))).toBe('1200 rows')
    const date = item?.querySelector('time')
    expect(date?.getAttribute('datetime')).toBe('2025-03-14T09:58:00.000Z')
    expect(text(date)).toMatch(/^Completed .*2025.* \(2 minutes ago\)$/)
  })

  it('keeps the relative time current while the list is open', async () => {
    servePages(makePage([makeTask({ state: 'DONE', completed_at: '2025-03-14T09:58:00Z' })]))
    const { host } = await mountViewer({ 'data-interval': '600' })
    open(host)
    await settle()
    const date = host.querySelector('.osis-async-task time')
    expect(text(date)).toMatch(/\(2 minutes ago\)$/)
    await vi.advanceTimersByTimeAsync(60_000)
    await settle()
    expect(text(date)).toMatch(/\(3 minutes ago\)$/)
  })

  it.each([
    ['PENDING', { created_at: '2025-03-14T09:59:30Z' }, /^Created .* \(30 seconds ago\)$/],
    ['PROCESSING', { started_at: '2025-03-14T07:00:00Z' }, /^Started .* \(3 hours ago\)$/],
    ['ERROR', { started_at: '2025-03-13T09:00:00Z', completed_at: '2025-03-13T10:00:00Z' }, /^Failed .* \(yesterday\)$/],
  ] as const)('dates a %s task by its most telling moment', async (state, dates, expected) => {
    servePages(makePage([makeTask({ state, ...dates })]))
    const { host } = await mountViewer()
    expect(text(host.querySelector('.osis-async-task time'))).toMatch(expected)
  })

  it('leaves out the date line when the server sends no usable date', async () => {
    servePages(makePage([makeTask({ state: 'PENDING', created_at: 'not a date' })]))
    const { host } = await mountViewer()
    expect(host.querySelector('.osis-async-task__date')).toBeNull()
  })

  it('shows an indeterminate bar while pending', async () => {
    servePages(makePage([makeTask({ state: 'PENDING', progression: 0 })]))
    const { host } = await mountViewer()
    const bar = host.querySelector('[role="progressbar"]')!
    expect(bar.classList).toContain('osis-async-progress--pending')
    expect(bar.hasAttribute('aria-valuenow')).toBe(false)
    expect(bar.getAttribute('aria-valuetext')).toBe('Pending')
    expect(text(host.querySelector('.osis-async-task__status'))).toBe('Pending')
  })

  it('shows an animated bar at its progression while processing', async () => {
    servePages(makePage([makeTask({ state: 'PROCESSING', progression: 42 })]))
    const { host } = await mountViewer()
    const bar = host.querySelector<HTMLElement>('[role="progressbar"]')!
    expect(bar.classList).toContain('osis-async-progress--processing')
    expect(bar.getAttribute('aria-valuenow')).toBe('42')
    expect(bar.getAttribute('aria-valuemin')).toBe('0')
    expect(bar.getAttribute('aria-valuemax')).toBe('100')
    expect(bar.querySelector<HTMLElement>('.osis-async-progress__bar')?.style.width).toBe('42%')
    expect(text(host.querySelector('.osis-async-task__status'))).toBe('42%')
  })

  it('keeps the bar within 0–100 whatever the server says', async () => {
    servePages(makePage([makeTask({ state: 'PROCESSING', progression: 250 }), makeTask({ state: 'PROCESSING', progression: -4 })]))
    const { host } = await mountViewer()
    const values = [...host.querySelectorAll('[role="progressbar"]')].map((bar) => bar.getAttribute('aria-valuenow'))
    expect(values).toEqual(['100', '0'])
  })

  it('shows a full green bar when done', async () => {
    servePages(makePage([makeTask({ state: 'DONE', progression: 80 })]))
    const { host } = await mountViewer()
    const bar = host.querySelector('[role="progressbar"]')!
    expect(bar.classList).toContain('osis-async-progress--done')
    expect(bar.getAttribute('aria-valuenow')).toBe('100')
    expect(text(host.querySelector('.osis-async-task__status'))).toBe('Done')
  })

  it('shows a red bar and an error label on error', async () => {
    servePages(makePage([makeTask({ state: 'ERROR', progression: 30 })]))
    const { host } = await mountViewer()
    const bar = host.querySelector('[role="progressbar"]')!
    expect(bar.classList).toContain('osis-async-progress--error')
    expect(bar.hasAttribute('aria-valuenow')).toBe(false)
    expect(bar.getAttribute('aria-valuetext')).toBe('Error')
    expect(host.querySelector('.osis-async-task')?.classList).toContain('osis-async-task--error')
    expect(text(host.querySelector('.osis-async-task__status'))).toBe('Error')
  })

  it('names each progress bar after its task', async () => {
    servePages(makePage([makeTask({ name: 'Import' })]))
    const { host } = await mountViewer()
    const bar = host.querySelector('[role="progressbar"]')!
    const label = document.getElementById(bar.getAttribute('aria-labelledby')!)
    expect(text(label)).toBe('Import')
  })

  it('shows markup in a name or description as text and never runs it', async () => {
    const name = '<img src=x onerror="window.__xss=1">'
    const description = '<script>window.__xss=1</script><b>bold</b>'
    servePages(makePage([makeTask({ name, description })]))
    const { host } = await mountViewer()

    expect(host.querySelector('.osis-async-task__name')?.textContent).toBe(name)
    expect(host.querySelector('.osis-async-task__description')?.textContent).toBe(description)
    expect(host.querySelector('img, script, b')).toBeNull()
    expect((window as unknown as { __xss?: number }).__xss).toBeUndefined()
  })
})
