import { describe, expect, it } from 'vitest'
import cases from '../../tests/link_cases.json'
import { descriptionParts, isSafeUrl } from '../src/links'

/** A small seeded generator: strings made of the pieces markup is made of. */
function* markupish(seed: number, count: number): Generator<string> {
  const pieces = [
    '<a', '</a>', '>', '<', ' href=', '"', "'", '/x', '//h', 'https://e.org/', 'http:', 'javascript:',
    'data:', '&amp;', '&#58;', ' onclick=', ' target=', '_blank', '\\', ' ', '\n', '\t', 'é', '<script>',
    '<img src=x onerror=alert(1)>', 'a', '=', '\u0000', '\u2028',
  ]
  let state = seed
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state
  }
  for (let i = 0; i < count; i += 1) {
    let text = ''
    const length = next() % 30
    for (let j = 0; j < length; j += 1) {
      text += next() % 5 === 0 ? String.fromCharCode(next() % 0x3000) : pieces[next() % pieces.length]
    }
    yield text
  }
}

describe('descriptionParts', () => {
  it.each(cases.map((c) => [c.text, c.parts] as const))('answers the shared case %j', (text, parts) => {
    expect(descriptionParts(text).map((part) => [part.text, part.href])).toEqual(parts)
  })

  it('only ever links to safe URLs and gives text back whole when it links nothing', () => {
    for (const text of markupish(12, 5000)) {
      const parts = descriptionParts(text)
      for (const part of parts) {
        if (part.href !== null) {
          expect(isSafeUrl(part.href)).toBe(true)
          expect(/^(https?:\/\/|\/(?!\/))/i.test(part.href)).toBe(true)
        }
      }
      if (parts.every((part) => part.href === null)) {
        expect(parts.map((part) => part.text).join('')).toBe(text)
      }
    }
  })

  it('refuses javascript:, data: and protocol-relative URLs', () => {
    for (const url of ['javascript:alert(1)', 'data:text/html,x', '//evil.example', '/\\evil', 'http:evil', '']) {
      expect(isSafeUrl(url)).toBe(false)
    }
    expect(isSafeUrl('https://example.org/x')).toBe(true)
    expect(isSafeUrl('/media/x.pdf')).toBe(true)
  })
})
