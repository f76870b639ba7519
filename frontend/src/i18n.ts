import type { InjectionKey } from 'vue'
import { inject } from 'vue'
import french from '../../src/osis_async/locale/fr/LC_MESSAGES/djangojs.po'

/** msgid (English) to translation; plural entries hold one string per form. */
export type Catalog = Record<string, string | string[]>

const CATALOGS: Record<string, Catalog> = { fr: french }
const DEFAULT_LANGUAGE = 'en'

export interface Translator {
  /** Language whose strings are shown: `en` or `fr`. */
  language: string
  /** Locale for dates and numbers, consistent with `language`. */
  locale: string
  gettext(msgid: string): string
  ngettext(singular: string, plural: string, count: number): string
  /** Replaces `%(name)s` placeholders, as Django's JavaScript catalogue does. */
  interpolate(format: string, values: Record<string, string | number>): string
}

export const TRANSLATOR: InjectionKey<Translator> = Symbol('osis-async-translator')

function canonicalTag(tag: string): string | null {
  try {
    return Intl.getCanonicalLocales(tag)[0] ?? null
  } catch {
    return null
  }
}

export function createTranslator(requested?: string | null, catalogs: Record<string, Catalog> = CATALOGS): Translator {
  const tag = canonicalTag((requested ?? '').trim().replace('_', '-'))
  const base = tag?.split('-')[0]?.toLowerCase() ?? DEFAULT_LANGUAGE
  const language = base in catalogs ? base : DEFAULT_LANGUAGE
  const locale = tag !== null && language === base ? tag : language
  const catalog = catalogs[language] ?? {}
  const pluralRules = new Intl.PluralRules(locale)

  return {
    language,
    locale,
    gettext(msgid) {
      const found = catalog[msgid]
      const text = Array.isArray(found) ? found[0] : found
      return text || msgid
    },
    ngettext(singular, plural, count) {
      // Both languages have two forms, "one" and "other"; Intl knows which a number takes.
      const form = pluralRules.select(count) === 'one' ? 0 : 1
      const found = catalog[singular]
      const text = Array.isArray(found) ? found[form] : undefined
      return text || (form === 0 ? singular : plural)
    },
    interpolate(format, values) {
      return format.replace(/%(?:\((\w+)\))?([sd%])/g, (match, name: string | undefined, kind: string) => {
        if (kind === '%') return '%'
        if (name === undefined || !(name in values)) return match
        return String(values[name])
      })
    },
  }
}

export function useTranslator(): Translator {
  const translator = inject(TRANSLATOR)
  if (!translator) throw new Error('osis-async: translator not provided')
  return translator
}
