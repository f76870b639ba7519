import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope, ref } from 'vue'
import { fetchTaskPage, FetchError } from '../src/api'
import { useBrowserNotifications } from '../src/composables/useBrowserNotifications'
import { useTitleBadge } from '../src/composables/useTitleBadge'
import { duration, secondsLeft } from '../src/dates'
import { useTabLeader } from '../src/tabs'
import { cleanUp, fakeFetch, makePage, makeTask, mountViewer, open, servePages, settle, text, wait } from './helpers'

/** The Web Locks API for the tabs of one browser: a lock goes to the first asking, then in turn. */
class FakeLocks {
  private held = new Map<string, { queue: (() => void)[] }>()
  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry = this.held.get(name) ?? { queue: [] }
      this.held.set(name, entry)
      const grant = (): void => {
        void callback().then(() => {
          const next = entry.queue.shift()
          if (next) next()
          else this.held.delete(name)
          resolve()
        })
      }
      if (entry.queue.length === 0 && !this.busy.has(name)) {
        this.busy.add(name)
        grant()
      } else {
        entry.queue.push(grant)
        options.signal?.addEventListener('abort', () => {
          entry.queue = entry.queue.filter((waiting) => waiting !== grant)
          reject(new DOMException('aborted', 'AbortError'))
        })
      }
    })
  }
  busy = new Set<string>()
}

/** BroadcastChannel among the fake tabs of one test. */
class FakeChannel {
  static all: FakeChannel[] = []
  onmessage: ((event: MessageEvent) => void) | null = null
  constructor(readonly name: string) {
    FakeChannel.all.push(this)
  }
  postMessage(data: unknown): void {
    for (const other of FakeChannel.all)
      if (other !== this && other.name === this.name) other.onmessage?.({ data } as MessageEvent)
  }
  close(): void {
    FakeChannel.all = FakeChannel.all.filter((channel) => channel !== this)
  }
}

describe('tabs of one browser', () => {
  beforeEach(() => {
    FakeChannel.all = []
    vi.stubGlobal('BroadcastChannel', FakeChannel)
    vi.stubGlobal('navigator', { ...navigator, locks: new FakeLocks() })
  })

  it('one leads, the others hear of changes, and the next takes over when it goes', async () => {
    const heard = [0, 0, 0]
    const awake = ref(true)
    const scopes = heard.map(() => effectScope(true))
    const tabs = scopes.map((scope, index) => scope.run(() => useTabLeader('/api/tasks/', awake, () => (heard[index]! += 1)))!)
    await settle()
    expect(tabs.map((tab) => tab.role.value)).toEqual(['leader', 'follower', 'follower'])
    tabs[0]!.announce()
    tabs[1]!.announce() // a follower does not announce
    expect(heard).toEqual([0, 1, 1])

    scopes[0]!.stop()
    await settle()
    expect(tabs[1]!.role.value).toBe('leader')
    tabs[1]!.announce()
    expect(heard).toEqual([0, 1, 2])
    // A hidden follower does not read on each change: it reads once it shows again.
    awake.value = false
    tabs[1]!.announce()
    expect(heard).toEqual([0, 1, 2])
    scopes.forEach((scope) => scope.stop())
  })

  it('a follower back from being signed out wakes the leader', async () => {
    const woken = [0, 0]
    const scopes = woken.map(() => effectScope(true))
    const tabs = scopes.map((scope, index) =>
      scope.run(() => useTabLeader('/api/tasks/', ref(true), () => undefined, () => (woken[index]! += 1)))!,
    )
    await settle()
    expect(tabs.map((tab) => tab.role.value)).toEqual(['leader', 'follower'])
    tabs[1]!.cameBack()
    tabs[0]!.cameBack() // the leader has nobody to wake
    expect(woken).toEqual([1, 0])
    scopes.forEach((scope) => scope.stop())
  })

  it('each tab alone without the APIs', () => {
    vi.stubGlobal('BroadcastChannel', undefined)
    const scope = effectScope(true)
    const tab = scope.run(() => useTabLeader('/api/tasks/', ref(true), () => undefined))!
    expect(tab.role.value).toBe('alone')
    tab.announce()
    scope.stop()
  })
})

describe('what the viewer tells', () => {
  beforeEach(() => vi.useFakeTimers({ now: new Date('2025-03-14T10:00:00Z') }))
  afterEach(() => {
    cleanUp()
    vi.useRealTimers()
  })

  it('leaves a notice by the button that goes by itself or when closed', async () => {
    const running = makeTask({ state: 'PROCESSING', progression: 50, name: 'Export' })
    const other = makeTask({ state: 'PROCESSING', progression: 50, name: 'Import' })
    servePages(
      makePage([running, other]),
      makePage([{ ...running, state: 'DONE' }, { ...other, state: 'ERROR' }]),
    )
    const { host } = await mountViewer()
    await wait(5)
    const notices = () => [...host.querySelectorAll('.osis-async__notice-text')].map(text)
    expect(notices()).toEqual(['Task “Export” finished.', 'Task “Import” failed.'])
    host.querySelector<HTMLButtonElement>('.osis-async__notice--error .osis-async__close')!.click()
    await settle()
    expect(notices()).toHaveLength(1)
    await wait(10)
    expect(notices()).toEqual([])
  })

  it('offers the result of a task that finished in its notice', async () => {
    const running = makeTask({ state: 'PROCESSING', progression: 50, name: 'Export' })
    const failing = makeTask({ state: 'PROCESSING', progression: 50, name: 'Import' })
    const file = `/osis_async/tasks/${running.uuid}/result/`
    servePages(
      makePage([running, failing]),
      makePage([
        { ...running, state: 'DONE', result_url: file },
        { ...failing, state: 'ERROR', result_url: 'https://example.org/never' },
      ]),
    )
    const { host } = await mountViewer()
    await wait(5)
    const links = [...host.querySelectorAll<HTMLAnchorElement>('.osis-async__notice a')]
    expect(links.map((link) => [text(link), link.getAttribute('href'), link.getAttribute('aria-label')])).toEqual([
      ['Download', file, 'Download: Export'],
    ])
    expect(links[0]!.hasAttribute('download')).toBe(true)
  })

  it('says to sign in on a 403 and warns the developer with the URL and status', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    const calls = servePages(403)
    const { host } = await mountViewer()
    open(host)
    await settle()
    expect(text(host.querySelector('.osis-async__panel'))).toContain('Sign in to see your tasks.')
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/\/api\/tasks\/\?limit=15&offset=0: 403/))
    await wait(600)
    expect(calls).toHaveLength(1)
    window.dispatchEvent(new Event('focus'))
    await settle()
    expect(calls).toHaveLength(2)
  })

  it('starts the title with the running count when asked', async () => {
    document.title = 'Students'
    servePages(makePage([makeTask({ state: 'PROCESSING', progression: 10 })]))
    const { viewer } = await mountViewer({ 'data-title-badge': '' })
    expect(document.title).toBe('(1) Students')
    viewer.unmount()
    expect(document.title).toBe('Students')
  })
})

describe('time left', () => {
  const start = new Date('2025-03-14T10:00:00Z')
  it('is guessed from the pace, not under 5 % nor in the first 10 s', () => {
    const now = start.getTime() + 180_000
    expect(secondsLeft(start, 50, now)).toBe(180)
    expect(secondsLeft(start, 4, now)).toBeNull()
    expect(secondsLeft(start, 50, start.getTime() + 9_000)).toBeNull()
    expect(secondsLeft(null, 50, now)).toBeNull()
  })

  it('reads in English and French', () => {
    expect(duration(180, 'en')).toBe('3 minutes')
    expect(duration(45, 'fr')).toBe('45 secondes')
    expect(duration(7200, 'en')).toBe('2 hours')
  })
})

describe('a request that hangs', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('fails after the timeout, naming the URL', async () => {
    fakeFetch(
      (_url, init) =>
        new Promise((_resolve, reject) => init.signal?.addEventListener('abort', () => reject(new DOMException('', 'AbortError')))),
    )
    const answer = fetchTaskPage('/api/tasks/', 15, 0, undefined, undefined, 15).catch((error: unknown) => error)
    await vi.advanceTimersByTimeAsync(15_000)
    const error = (await answer) as FetchError
    expect(error).toBeInstanceOf(FetchError)
    expect(error.url).toContain('/api/tasks/?limit=15')
    expect(error.message).toBe('no answer within 15 s')
  })
})

describe('browser notifications', () => {
  it('ask only when told, and tell only while hidden', () => {
    const shown: string[] = []
    class FakeNotification extends EventTarget {
      static permission = 'default'
      static requestPermission = vi.fn(async () => 'granted')
      constructor(title: string, options: { body: string }) {
        super()
        shown.push(`${title}: ${options.body}`)
      }
      close(): void {}
    }
    vi.stubGlobal('Notification', FakeNotification)
    const notifications = useBrowserNotifications()
    expect(FakeNotification.requestPermission).not.toHaveBeenCalled()
    notifications.ask()
    expect(FakeNotification.requestPermission).toHaveBeenCalledOnce()
    FakeNotification.permission = 'granted'
    notifications.notify('a', 'Background tasks', 'Done.')
    expect(shown).toEqual([])
    vi.spyOn(document, 'hidden', 'get').mockReturnValue(true)
    notifications.notify('a', 'Background tasks', 'Done.')
    expect(shown).toEqual(['Background tasks: Done.'])
  })
})

describe('the title badge', () => {
  it('follows the count', () => {
    document.title = 'Page'
    const count = ref(2)
    const scope = effectScope(true)
    scope.run(() => useTitleBadge(count))
    expect(document.title).toBe('(2) Page')
    scope.stop()
    expect(document.title).toBe('Page')
  })
})
