import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { parsePo } from '../build/po'
import { relativeTime } from '../src/dates'
import { createTranslator } from '../src/i18n'
import { cleanUp, makePage, makeTask, mountViewer, open, servePages, settle, text } from './helpers'

const LOCALE_DIR = join(__dirname, '../../src/osis_async/locale')

describe('French', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    vi.setSystemTime(new Date('2025-03-14T10:00:00Z'))
  })

  afterEach(() => {
    cleanUp()
    vi.useRealTimers()
  })

  it('is used when <html lang> is French', async () => {
    document.documentElement.lang = 'fr-BE'
    servePages(
      makePage(
        [
          makeTask({ name: 'Export', state: 'PROCESSING', progression: 42, started_at: '2025-03-14T09:58:00Z' }),
          makeTask({ state: 'ERROR' }),
          makeTask({ state: 'PENDING' }),
        ],
        { next: 'more' },
      ),
    )
    const { host } = await mountViewer()
    open(host)
    await settle()

    expect(text(host.querySelector('.osis-async__toggle .osis-async__sr-only'))).toBe(
      'Tâches en arrière-plan, 2 tâches en cours',
    )
    expect(text(host.querySelector('.osis-async__title'))).toBe('Tâches en arrière-plan')
    expect(text(host.querySelector('.osis-async-task time'))).toMatch(/^Démarrée le 14 mars 2025.* \(il y a 2 minutes\)$/)
    const statuses = [...host.querySelectorAll('.osis-async-task__status')].map((element) => text(element))
    expect(statuses).toEqual(['42 %', 'Erreur', 'En attente'])
    expect(text(host.querySelector('.osis-async__more'))).toBe('Afficher plus')
  })

  it('says "no tasks" and "could not load" in French', async () => {
    document.documentElement.lang = 'fr'
    servePages(makePage([]), 503)
    const { host } = await mountViewer()
    open(host)
    await settle()
    expect(text(host.querySelector('.osis-async__panel'))).toContain('Aucune tâche.')
    document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))
    await settle()
    expect(text(host.querySelector('.osis-async__panel'))).toContain('Les tâches n’ont pas pu être chargées.')
  })

  it('can be chosen with data-lang', async () => {
    servePages(makePage([]))
    const { host } = await mountViewer({ 'data-lang': 'fr' })
    expect(text(host.querySelector('.osis-async__toggle'))).toBe('Tâches en arrière-plan')
  })
})

describe('translator', () => {
  it('falls back to English for other or missing languages', () => {
    for (const tag of ['nl-BE', '', null, 'not a tag!']) {
      const translator = createTranslator(tag)
      expect(translator.language).toBe('en')
      expect(translator.locale).toBe('en')
      expect(translator.gettext('No tasks.')).toBe('No tasks.')
    }
  })

  it('keeps the region of a supported language for dates', () => {
    expect(createTranslator('fr_CA').locale).toBe('fr-CA')
    expect(createTranslator('EN-gb').locale).toBe('en-GB')
  })

  it('picks the plural form by count', () => {
    const fr = createTranslator('fr')
    const one = '%(count)s task in progress'
    const many = '%(count)s tasks in progress'
    expect(fr.ngettext(one, many, 0)).toBe('%(count)s tâche en cours')
    expect(fr.ngettext(one, many, 1)).toBe('%(count)s tâche en cours')
    expect(fr.ngettext(one, many, 2)).toBe('%(count)s tâches en cours')
    const en = createTranslator('en')
    expect(en.ngettext(one, many, 0)).toBe(many)
    expect(en.ngettext(one, many, 1)).toBe(one)
    expect(fr.ngettext('unknown', 'unknowns', 3)).toBe('unknowns')
  })

  it('fills named placeholders and leaves unknown ones', () => {
    const { interpolate } = createTranslator('en')
    expect(interpolate('%(name)s is at %(value)d%%', { name: 'Export', value: 5 })).toBe('Export is at 5%')
    expect(interpolate('%(missing)s', {})).toBe('%(missing)s')
  })
})

describe('catalogues', () => {
  function sourceMsgids(): string[] {
    const dir = join(__dirname, '../src')
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) => /\.(ts|vue)$/.test(file))
    const ids = new Set<string>()
    for (const file of files) {
      const source = readFileSync(join(dir, file), 'utf8')
      for (const match of source.matchAll(/\b(?:gettext|ngettext)\(\s*'((?:[^'\\]|\\.)*)'/g)) ids.add(match[1]!)
    }
    return [...ids].sort()
  }

  it('finds the strings of the source', () => {
    expect(sourceMsgids()).toContain('Background tasks')
  })

  it('translates every string of the widget into French', () => {
    const french = parsePo(readFileSync(join(LOCALE_DIR, 'fr/LC_MESSAGES/djangojs.po'), 'utf8'))
    const missing = sourceMsgids().filter((msgid) => !(msgid in french))
    expect(missing).toEqual([])
  })

  it('lists every string of the widget in the English catalogue', () => {
    const english = readFileSync(join(LOCALE_DIR, 'en/LC_MESSAGES/djangojs.po'), 'utf8')
    const missing = sourceMsgids().filter((msgid) => !english.includes(`msgid "${msgid.replace(/"/g, '\\"')}"`))
    expect(missing).toEqual([])
  })
})

describe('relative time', () => {
  const now = Date.parse('2025-03-14T10:00:00Z')
  it.each([
    ['2025-03-14T10:00:00Z', 'now'],
    ['2025-03-14T09:59:15Z', '45 seconds ago'],
    ['2025-03-14T09:58:00Z', '2 minutes ago'],
    ['2025-03-14T07:00:00Z', '3 hours ago'],
    ['2025-03-11T10:00:00Z', '3 days ago'],
    ['2025-02-21T10:00:00Z', '3 weeks ago'],
    ['2024-11-14T10:00:00Z', '4 months ago'],
    ['2022-03-14T10:00:00Z', '3 years ago'],
    ['2025-03-14T10:05:00Z', 'in 5 minutes'],
  ])('%s is "%s"', (date, expected) => {
    expect(relativeTime(new Date(date), now, 'en')).toBe(expected)
  })
})
