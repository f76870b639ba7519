/**
 * Safe links in descriptions, as the server's `osis_async.links` finds them: an
 * `<a href="…">label</a>` whose href is http, https or site-relative becomes a link; any other
 * tag, attribute or href stays text. `tests/link_cases.json` holds both to the same answers.
 */

export interface DescriptionPart {
  text: string
  /** The link's target, or null for text. */
  href: string | null
}

const URL_MAX_LENGTH = 2000
const ATTRIBUTE = String.raw`\s+([a-zA-Z][a-zA-Z-]*)\s*=\s*(?:"([^"<>]*)"|'([^'<>]*)')`
const LINK = new RegExp(String.raw`<a((?:${ATTRIBUTE})+)\s*>([^<>]*)</a\s*>`, 'gi')
const ONE_ATTRIBUTE = new RegExp(ATTRIBUTE, 'g')
const IGNORED = new Set(['target', 'rel', 'class', 'title', 'download'])
const ENTITIES: Record<string, string> = {
  '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#x27;': "'",
}
const ENTITY = /&amp;|&lt;|&gt;|&quot;|&#39;|&#x27;/gi
const ABSOLUTE = /^https?:\/\/[^/?#]/i
// Whitespace, controls and backslashes: browsers drop or rewrite them (`/\host` is `//host`).
const UNSAFE_CHARACTER = /[\s\x00-\x1f\x7f\\]/

/** An http/https URL with a host, or a site-relative path (`/…`, not `//…`). */
export function isSafeUrl(value: string): boolean {
  if (!value || value.length > URL_MAX_LENGTH || UNSAFE_CHARACTER.test(value)) return false
  if (value.startsWith('/')) return !value.startsWith('//')
  if (!ABSOLUTE.test(value)) return false
  try {
    const url = new URL(value)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== ''
  } catch {
    return false
  }
}

function unescape(text: string): string {
  return text.replace(ENTITY, (entity) => ENTITIES[entity.toLowerCase()] ?? entity)
}

function hrefOf(attributes: string): string | null {
  let href: string | null = null
  for (const match of attributes.matchAll(ONE_ATTRIBUTE)) {
    const name = (match[1] ?? '').toLowerCase()
    const value = match[2] ?? match[3] ?? ''
    if (name === 'href' && href === null) href = unescape(value)
    else if (!IGNORED.has(name)) return null
  }
  return href !== null && isSafeUrl(href) ? href : null
}

/** `text` as text parts and links, in order; adjacent text parts merged. */
export function descriptionParts(text: string): DescriptionPart[] {
  const parts: DescriptionPart[] = []
  const addText = (piece: string): void => {
    if (!piece) return
    const last = parts[parts.length - 1]
    if (last && last.href === null) last.text += piece
    else parts.push({ text: piece, href: null })
  }
  let start = 0
  for (const match of text.matchAll(LINK)) {
    const href = hrefOf(match[1] ?? '')
    if (href === null) continue
    addText(text.slice(start, match.index))
    const label = unescape(match[5] ?? '').trim()
    parts.push({ text: label || href, href })
    start = match.index + match[0].length
  }
  addText(text.slice(start))
  return parts
}
