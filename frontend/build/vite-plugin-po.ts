import { readFileSync } from 'node:fs'
import type { Plugin } from 'vite'
import { parsePo } from './po'

/** Lets the source `import catalog from '…/djangojs.po'`: the module is the parsed catalogue. */
export function gettextCatalogue(): Plugin {
  return {
    name: 'osis-async-po',
    enforce: 'pre',
    load(id) {
      const [path] = id.split('?', 1)
      if (!path?.endsWith('.po')) return null
      this.addWatchFile(path)
      const catalog = parsePo(readFileSync(path, 'utf8'))
      return { code: `export default ${JSON.stringify(catalog)}`, map: { mappings: '' } }
    },
  }
}
