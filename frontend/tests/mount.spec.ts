import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mount, mountAll, optionsFromElement } from '../src/mount'
import { cleanUp, createHost, makePage, servePages, settle } from './helpers'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
})

afterEach(() => {
  document.querySelectorAll<HTMLElement>('.osis-async').forEach((element) => element.parentElement?.remove())
  cleanUp()
  vi.useRealTimers()
  vi.resetModules()
})

describe('data attributes', () => {
  it('are read with their defaults', () => {
    expect(optionsFromElement(createHost())).toEqual({
      url: '/api/tasks/',
      interval: 300,
      limit: 15,
      lang: undefined,
      stream: true,
      timeout: 15,
      notify: undefined,
      titleBadge: false,
    })
    expect(
      optionsFromElement(
        createHost({ 'data-timeout': '4', 'data-notify': 'browser', 'data-title-badge': '' }),
      ),
    ).toMatchObject({ timeout: 4, notify: 'browser', titleBadge: true })
    expect(
      optionsFromElement(createHost({ 'data-interval': '30', 'data-limit': '500', 'data-lang': 'fr' })),
    ).toMatchObject({ interval: 30, limit: 100, lang: 'fr' })
    expect(optionsFromElement(createHost({ 'data-interval': '-3', 'data-limit': 'x' }))).toMatchObject({
      interval: 300,
      limit: 15,
    })
    expect(optionsFromElement(createHost({ 'data-stream': 'false' })).stream).toBe(false)
    expect(optionsFromElement(createHost({ 'data-stream': 'true' })).stream).toBe(true)
  })
})

describe('mount', () => {
  it('prefers the options it is given over the data attributes', async () => {
    const calls = servePages(makePage([]))
    const host = createHost({ 'data-url': '/ignored/' })
    mount(host, { url: '/given/', limit: 7 })
    await settle()
    expect(calls[0]?.url.pathname).toBe('/given/')
    expect(calls[0]?.url.searchParams.get('limit')).toBe('7')
  })

  it('needs a URL', () => {
    const host = createHost({ 'data-url': '' })
    expect(() => mount(host)).toThrow(/data-url/)
  })

  it('mounts once per element', async () => {
    servePages(makePage([]))
    const host = createHost()
    const first = mount(host)
    expect(mount(host)).toBe(first)
    await settle()
    expect(host.querySelectorAll('.osis-async')).toHaveLength(1)
    first.unmount()
    expect(host.querySelector('.osis-async')).toBeNull()
  })

  it('exposes a refresh', async () => {
    const calls = servePages(makePage([]))
    const viewer = mount(createHost())
    await settle()
    await viewer.refresh()
    expect(calls).toHaveLength(2)
    viewer.unmount()
  })
})

describe('mountAll', () => {
  it('mounts on #async-tasks-viewer and every [data-osis-async-viewer], skipping broken ones', async () => {
    servePages(makePage([]))
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    createHost()
    createHost()
    const broken = createHost({ 'data-url': '' })
    const viewers = mountAll()
    await settle()
    expect(viewers).toHaveLength(2)
    expect(document.querySelectorAll('.osis-async')).toHaveLength(2)
    expect(broken.querySelector('.osis-async')).toBeNull()
    expect(error).toHaveBeenCalledOnce()
    viewers.forEach((viewer) => viewer.unmount())
  })
})

describe('the bundle entry', () => {
  it('mounts by itself when the page is already loaded', async () => {
    servePages(makePage([]))
    const host = createHost()
    const api = await import('../src/main')
    await settle()
    expect(host.querySelector('.osis-async__toggle')).not.toBeNull()
    expect(typeof api.mount).toBe('function')
    expect(api.REFRESH_EVENT).toBe('AsyncTasksViewer:fetchAsyncTasks')
  })

  it('waits for DOMContentLoaded while the page is loading', async () => {
    servePages(makePage([]))
    const readyState = vi.spyOn(document, 'readyState', 'get').mockReturnValue('loading')
    await import('../src/main')
    const host = createHost()
    expect(host.querySelector('.osis-async')).toBeNull()
    readyState.mockRestore()
    document.dispatchEvent(new Event('DOMContentLoaded'))
    await settle()
    expect(host.querySelector('.osis-async__toggle')).not.toBeNull()
  })
})
