import { describe, expect, it } from 'vitest'
import { parsePo } from '../build/po'

describe('parsePo', () => {
  it('reads translations, leaving out the header and untranslated entries', () => {
    const catalog = parsePo(`# comment
msgid ""
msgstr ""
"Language: fr\\n"

#: src/a.vue:1
msgid "Load more"
msgstr "Afficher plus"

msgid "Not yet"
msgstr ""
`)
    expect(catalog).toEqual({ 'Load more': 'Afficher plus' })
  })

  it('joins continued lines and unescapes', () => {
    const catalog = parsePo(`msgid ""
"A \\"quoted\\" "
"word"
msgstr ""
"Un mot "
"\\"cité\\"\\tet\\\\\\n"
`)
    expect(catalog).toEqual({ 'A "quoted" word': 'Un mot "cité"\tet\\\n' })
  })

  it('reads plural forms, only when all are translated', () => {
    const catalog = parsePo(`msgid "%(n)s task"
msgid_plural "%(n)s tasks"
msgstr[0] "%(n)s tâche"
msgstr[1] "%(n)s tâches"

msgid "%(n)s file"
msgid_plural "%(n)s files"
msgstr[0] "%(n)s fichier"
msgstr[1] ""
`)
    expect(catalog).toEqual({ '%(n)s task': ['%(n)s tâche', '%(n)s tâches'] })
  })

  it('skips fuzzy entries and keys contexts as gettext does', () => {
    const catalog = parsePo(`#, fuzzy, python-format
msgid "Guess"
msgstr "Devinette"
msgctxt "verb"
msgid "Export"
msgstr "Exporter"
msgid "Export"
msgstr "Export"
#~ msgid "Old"
#~ msgstr "Vieux"
`)
    expect(catalog).toEqual({ 'verb\u0004Export': 'Exporter', Export: 'Export' })
  })

  it('accepts Windows line ends', () => {
    expect(parsePo('msgid "Yes"\r\nmsgstr "Oui"\r\n')).toEqual({ Yes: 'Oui' })
  })

  it('rejects what is not PO', () => {
    expect(() => parsePo('msgid "Yes"\nmsgstr Oui\n')).toThrow(/line 2/)
    expect(() => parsePo('hello\n')).toThrow(/line 1/)
  })
})

describe('the Vite plugin', () => {
  it('turns a .po import into its catalogue', async () => {
    const { gettextCatalogue } = await import('../build/vite-plugin-po')
    const { join } = await import('node:path')
    const plugin = gettextCatalogue()
    const load = plugin.load as (this: { addWatchFile(path: string): void }, id: string) => { code: string } | null
    const watched: string[] = []
    const context = { addWatchFile: (path: string) => void watched.push(path) }
    const path = join(__dirname, '../../src/osis_async/locale/fr/LC_MESSAGES/djangojs.po')

    const module = load.call(context, `${path}?import`)
    expect(module?.code).toMatch(/^export default \{.*"Load more":"Afficher plus"/)
    expect(watched).toEqual([path])
    expect(load.call(context, '/src/main.ts')).toBeNull()
  })
})
