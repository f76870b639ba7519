import axe from 'axe-core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { cleanUp, fakeFetch, jsonResponse, makePage, makeTask, mountViewer, open, servePages, settle, text } from './helpers'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
})

afterEach(() => {
  cleanUp()
  vi.useRealTimers()
})

function parts(host: HTMLElement) {
  const toggle = host.querySelector<HTMLButtonElement>('.osis-async__toggle')!
  const panel = document.getElementById(toggle.getAttribute('aria-controls')!)!
  return { toggle, panel }
}

describe('dropdown', () => {
  it('is a button controlling the panel, closed at first', async () => {
    servePages(makePage([]))
    const { host } = await mountViewer()
    const { toggle, panel } = parts(host)
    expect(toggle.tagName).toBe('BUTTON')
    expect(toggle.type).toBe('button')
    expect(toggle.getAttribute('aria-expanded')).toBe('false')
    expect(host.contains(panel)).toBe(true)
    expect(panel.style.display).toBe('none')
  })

  it('opens and closes when the button is pressed', async () => {
    servePages(makePage([]))
    const { host } = await mountViewer()
    const { toggle, panel } = parts(host)
    toggle.click()
    await settle()
    expect(toggle.getAttribute('aria-expanded')).toBe('true')
    expect(panel.style.display).toBe('')
    toggle.click()
    await settle()
    expect(toggle.getAttribute('aria-expanded')).toBe('false')
  })

  it('closes on Escape and gives the focus back to the button', async () => {
    servePages(makePage([], { next: 'more' }))
    const { host } = await mountViewer()
    const { toggle, panel } = parts(host)
    open(host)
    await settle()
    const more = panel.querySelector<HTMLButtonElement>('.osis-async__more')!
    more.focus()
    more.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }))
    await settle()
    expect(toggle.getAttribute('aria-expanded')).toBe('false')
    expect(document.activeElement).toBe(toggle)
  })

  it('closes on a click outside, not on a click inside', async () => {
    servePages(makePage([makeTask()]))
    const { host } = await mountViewer()
    const { toggle, panel } = parts(host)
    open(host)
    await settle()
    panel.querySelector<HTMLElement>('.osis-async-task')!.click()
    await settle()
    expect(toggle.getAttribute('aria-expanded')).toBe('true')

    document.body.click()
    await settle()
    expect(toggle.getAttribute('aria-expanded')).toBe('false')
  })

  it('stays open after a click on a control that is gone once the click reaches the page', async () => {
    servePages(makePage([makeTask({ name: 'Report', state: 'DONE' })]))
    const { host } = await mountViewer()
    const { toggle } = parts(host)
    open(host)
    await settle()
    // As when the page redraws between the click's listeners: the row's button leaves at once.
    const button = host.querySelector<HTMLButtonElement>('.osis-async-task__dismiss')!
    button.addEventListener('click', () => button.remove())
    button.dispatchEvent(new MouseEvent('click', { bubbles: true, composed: true }))
    await settle()
    expect(toggle.getAttribute('aria-expanded')).toBe('true')
  })

  it('closes when the focus leaves it, not when it moves inside', async () => {
    servePages(makePage([], { next: 'more' }))
    const { host } = await mountViewer()
    const { toggle, panel } = parts(host)
    const outside = document.createElement('button')
    document.body.append(outside)
    open(host)
    await settle()
    const more = panel.querySelector<HTMLButtonElement>('.osis-async__more')!
    toggle.focus()
    more.focus()
    await settle()
    expect(toggle.getAttribute('aria-expanded')).toBe('true')
    outside.focus()
    await settle()
    expect(toggle.getAttribute('aria-expanded')).toBe('false')
    expect(document.activeElement).toBe(outside)
  })

  it('opens towards the right when there is no room on the left', async () => {
    servePages(makePage([]))
    const { host } = await mountViewer()
    const { toggle, panel } = parts(host)
    const left = vi.spyOn(panel, 'getBoundingClientRect').mockReturnValue({ left: -120 } as DOMRect)
    toggle.click()
    await settle()
    expect(panel.classList).toContain('osis-async__panel--start')

    toggle.click()
    left.mockReturnValue({ left: 300 } as DOMRect)
    toggle.click()
    await settle()
    expect(panel.classList).not.toContain('osis-async__panel--start')
  })

  it('gives each viewer of a page its own ids', async () => {
    servePages(makePage([makeTask()]))
    const first = await mountViewer()
    const second = await mountViewer()
    const ids = [...document.querySelectorAll('[id]')].map((element) => element.id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(parts(first.host).panel).not.toBe(parts(second.host).panel)
  })
})

describe('live region', () => {
  function liveText(host: HTMLElement): string {
    return text(host.querySelector('[aria-live="polite"]'))
  }

  it('stays silent on the first load', async () => {
    servePages(makePage([makeTask({ state: 'DONE' }), makeTask({ state: 'ERROR' })]))
    const { host } = await mountViewer()
    expect(host.querySelector('[aria-live="polite"]')).not.toBeNull()
    expect(liveText(host)).toBe('')
  })

  it('announces a task that finishes or fails while watched', async () => {
    const report = makeTask({ name: 'Report', state: 'PROCESSING', progression: 90 })
    const export_ = makeTask({ name: 'Export', state: 'PENDING' })
    const other = makeTask({ name: 'Old', state: 'DONE' })
    servePages(
      makePage([report, export_, other]),
      makePage([{ ...report, state: 'DONE' }, export_, other]),
      makePage([{ ...report, state: 'DONE' }, { ...export_, state: 'ERROR' }, other]),
    )
    const { host } = await mountViewer()

    await vi.advanceTimersByTimeAsync(5000)
    await settle()
    expect(liveText(host)).toBe('Task “Report” finished.')

    await vi.advanceTimersByTimeAsync(5000)
    await settle()
    expect(liveText(host)).toBe('Task “Export” failed.')
  })

  it('does not announce a task first seen finished', async () => {
    const running = makeTask({ state: 'PROCESSING' })
    servePages(makePage([running]), makePage([makeTask({ name: 'New and done', state: 'DONE' }), running]))
    const { host } = await mountViewer()
    await vi.advanceTimersByTimeAsync(5000)
    await settle()
    expect(liveText(host)).toBe('')
  })
})

describe('axe-core', () => {
  /** The violations axe finds in the widget (colours cannot be measured without layout). */
  async function violations(host: HTMLElement): Promise<string[]> {
    vi.useRealTimers()
    // jsdom has no canvas, which axe would use to tell icon ligatures.
    vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue(null)
    const results = await axe.run(host, { rules: { 'color-contrast': { enabled: false } } })
    return results.violations.map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.html).join(', ')}`)
  }

  it('finds nothing wrong with the controls to cancel and dismiss, in each of their states', async () => {
    const cancelling = makeTask({ name: 'Import', state: 'PROCESSING', progression: 40, cancel_requested: true })
    const failing = makeTask({ name: 'Export', state: 'PENDING' })
    const idle = makeTask({ name: 'Sync', state: 'PROCESSING', progression: 5 })
    const tasks = [cancelling, failing, idle, makeTask({ name: 'Old', state: 'CANCELLED' }), makeTask({ name: 'Report', state: 'DONE' })]
    fakeFetch((_url, init) => (init.method === 'POST' ? jsonResponse({}, 500) : jsonResponse(makePage(tasks))))
    vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    const { host } = await mountViewer()
    open(host)
    await settle()
    const cancel = [...host.querySelectorAll<HTMLButtonElement>('.osis-async-task__cancel')].find((button) =>
      button.getAttribute('aria-label')?.endsWith('Export'),
    )!
    cancel.click()
    await settle()
    // Each state is there: cancel, "Cancelling…", the error text, dismiss and "Clear finished".
    expect(text(host.querySelector('.osis-async__panel'))).toContain('Cancelling…')
    expect(text(host.querySelector('.osis-async__panel'))).toContain('Could not cancel this task.')
    expect(host.querySelector('[aria-label="Cancel Sync"]')).not.toBeNull()
    expect(host.querySelector('[aria-label="Dismiss Old"]')).not.toBeNull()
    expect(host.querySelector('.osis-async__clear')).not.toBeNull()
    expect(await violations(host)).toEqual([])
  })

  it('catches a control without a name', async () => {
    servePages(makePage([makeTask({ name: 'Report', state: 'DONE' })]))
    const { host } = await mountViewer()
    open(host)
    await settle()
    host.querySelector('.osis-async-task__dismiss')!.removeAttribute('aria-label')
    host.querySelector('.osis-async-task__dismiss')!.removeAttribute('title')
    expect(await violations(host)).toEqual([expect.stringMatching(/^button-name: /)])
  })
})
