import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { cleanUp, makePage, makeTask, mountViewer, open, servePages, settle, text } from './helpers'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
})

afterEach(() => {
  cleanUp()
  vi.useRealTimers()
  document.documentElement.lang = ''
})

async function shown(...tasks: ReturnType<typeof makeTask>[]) {
  servePages(makePage(tasks))
  const { host } = await mountViewer()
  open(host)
  await settle()
  return host
}

describe('results', () => {
  it('offers a done task’s file as a download named after the task', async () => {
    const task = makeTask({ name: 'Students export', state: 'DONE' })
    task.result_url = `/osis_async/tasks/${task.uuid}/result/`
    const host = await shown(task)
    const link = host.querySelector<HTMLAnchorElement>('.osis-async-task__result')!
    expect(text(link)).toBe('Download')
    expect(link.getAttribute('href')).toBe(task.result_url)
    expect(link.hasAttribute('download')).toBe(true)
    expect(link.getAttribute('aria-label')).toBe('Download: Students export')
    link.focus()
    expect(document.activeElement).toBe(link)
  })

  it('points a file at the list’s server when the list is on another origin', async () => {
    const task = makeTask({ name: 'Students export', state: 'DONE' })
    task.result_url = `/osis_async/tasks/${task.uuid}/result/`
    servePages(makePage([task]))
    const { host } = await mountViewer({ 'data-url': 'https://api.example.org/osis_async/tasks/' })
    open(host)
    await settle()
    const link = host.querySelector<HTMLAnchorElement>('.osis-async-task__result')!
    expect(link.getAttribute('href')).toBe(`https://api.example.org/osis_async/tasks/${task.uuid}/result/`)
  })

  it('never links a result URL that is not http, https or a path', async () => {
    const host = await shown(makeTask({ state: 'DONE', result_url: 'javascript:alert(1)' }))
    expect(host.querySelector('.osis-async-task__result')).toBeNull()
  })

  it('opens a result URL in a new tab with its label', async () => {
    const host = await shown(
      makeTask({ state: 'DONE', result_url: 'https://example.org/r', result_label: 'See the report' }),
    )
    const link = host.querySelector<HTMLAnchorElement>('.osis-async-task__result')!
    expect(text(link)).toBe('See the report')
    expect(link.target).toBe('_blank')
    expect(link.rel).toBe('noopener noreferrer')
    expect(link.hasAttribute('download')).toBe(false)
  })

  it('shows no result button while the task runs or after it failed', async () => {
    const host = await shown(
      makeTask({ state: 'PROCESSING', progression: 40, result_url: '/x' }),
      makeTask({ state: 'ERROR', result_url: '/y' }),
    )
    expect(host.querySelector('.osis-async-task__result')).toBeNull()
  })

  it('is in French for a French page', async () => {
    document.documentElement.lang = 'fr'
    const task = makeTask({ name: 'Export', state: 'DONE' })
    task.result_url = `/osis_async/tasks/${task.uuid}/result/`
    const host = await shown(task, makeTask({ state: 'ERROR' }))
    expect(text(host.querySelector('.osis-async-task__result'))).toBe('Télécharger')
    expect(text(host.querySelector('.osis-async-task__error'))).toBe(
      "La tâche a échoué à cause d'une erreur inattendue.",
    )
  })
})

describe('failure reasons', () => {
  it('shows a failed task’s reason under its bar, or a generic one', async () => {
    const host = await shown(
      makeTask({ state: 'ERROR', error_message: 'Row 1644 has an unknown student id.' }),
      makeTask({ state: 'ERROR' }),
      makeTask({ state: 'DONE', error_message: 'ignored' }),
    )
    const reasons = [...host.querySelectorAll('.osis-async-task__error')].map((node) => text(node))
    expect(reasons).toEqual([
      'Row 1644 has an unknown student id.',
      'The task failed because of an unexpected error.',
    ])
    const item = host.querySelector('.osis-async-task__error')!.closest('li')!
    const children = [...item.children]
    expect(children.indexOf(item.querySelector('[role="progressbar"]')!)).toBeLessThan(
      children.indexOf(item.querySelector('.osis-async-task__error')!),
    )
  })

  it('shows markup in a reason as text', async () => {
    const host = await shown(makeTask({ state: 'ERROR', error_message: '<img src=x onerror=alert(1)>' }))
    expect(text(host.querySelector('.osis-async-task__error'))).toBe('<img src=x onerror=alert(1)>')
    expect(host.querySelector('img')).toBeNull()
  })
})

describe('old descriptions', () => {
  it('turn a safe <a href> into a real link and keep everything else text', async () => {
    const description =
      'Ready: <a href="/media/x.xlsx">Download</a> <a href="javascript:alert(1)">bad</a> <b>b</b>'
    const host = await shown(makeTask({ description }))
    const paragraph = host.querySelector('.osis-async-task__description')!
    const links = [...paragraph.querySelectorAll('a')]
    expect(links.map((link) => [link.getAttribute('href'), text(link), link.rel, link.target])).toEqual([
      ['/media/x.xlsx', 'Download', 'noopener noreferrer', '_blank'],
    ])
    expect(paragraph.textContent).toBe(
      'Ready: Download <a href="javascript:alert(1)">bad</a> <b>b</b>',
    )
    expect(paragraph.querySelector('b, script, img')).toBeNull()
  })
})
