/** msgid to translation (plural entries: one string per form), as the widget's i18n module expects. */
export type Catalog = Record<string, string | string[]>

interface Entry {
  msgctxt?: string
  msgid?: string
  msgid_plural?: string
  msgstr: string[]
  fuzzy: boolean
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' }

function unquote(text: string, line: number): string {
  const match = /^"((?:[^"\\]|\\.)*)"$/.exec(text.trim())
  if (!match) throw new Error(`PO line ${line}: expected a quoted string, got ${text}`)
  return (match[1] ?? '').replace(/\\(.)/g, (_, char: string) => ESCAPES[char] ?? char)
}

function parseEntries(source: string): Entry[] {
  const entries: Entry[] = []
  let entry: Entry = { msgstr: [], fuzzy: false }
  let field: { key: 'msgctxt' | 'msgid' | 'msgid_plural' } | { key: 'msgstr'; index: number } | null = null

  const flush = (): void => {
    if (entry.msgid !== undefined) entries.push(entry)
    entry = { msgstr: [], fuzzy: false }
    field = null
  }

  source.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim()
    const number = index + 1
    if (line === '') {
      flush()
      return
    }
    if (line.startsWith('#')) {
      if (field !== null) flush()
      if (line.startsWith('#,') && line.slice(2).split(',').some((flag) => flag.trim() === 'fuzzy')) entry.fuzzy = true
      return
    }
    const keyword = /^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(".*")$/.exec(line)
    if (keyword) {
      const [, key, plural, text] = keyword as unknown as [string, string, string | undefined, string]
      if ((key === 'msgctxt' || key === 'msgid') && entry.msgid !== undefined) flush()
      const value = unquote(text, number)
      if (key === 'msgstr') {
        const position = plural === undefined ? 0 : Number(plural)
        entry.msgstr[position] = value
        field = { key, index: position }
      } else {
        entry[key as 'msgctxt' | 'msgid' | 'msgid_plural'] = value
        field = { key: key as 'msgctxt' | 'msgid' | 'msgid_plural' }
      }
      return
    }
    if (line.startsWith('"') && field !== null) {
      const value = unquote(line, number)
      if (field.key === 'msgstr') entry.msgstr[field.index] = (entry.msgstr[field.index] ?? '') + value
      else entry[field.key] = (entry[field.key] ?? '') + value
      return
    }
    throw new Error(`PO line ${number}: cannot parse ${raw}`)
  })
  flush()
  return entries
}

/**
 * Reads a gettext PO file into a catalogue. The header, fuzzy entries and untranslated entries are
 * left out, so that the English msgid is shown for them. A context, if any, is joined to the msgid
 * with U+0004 as gettext does.
 */
export function parsePo(source: string): Catalog {
  const catalog: Catalog = {}
  for (const { msgctxt, msgid, msgid_plural, msgstr, fuzzy } of parseEntries(source)) {
    if (!msgid || fuzzy) continue
    const key = msgctxt === undefined ? msgid : `${msgctxt}\u0004${msgid}`
    if (msgid_plural !== undefined) {
      if (msgstr.length > 0 && msgstr.every((form) => form)) catalog[key] = [...msgstr]
    } else if (msgstr[0]) {
      catalog[key] = msgstr[0]
    }
  }
  return catalog
}
