import type { TaskPage } from './types'

interface Entry {
  etag: string
  page: TaskPage
}

/**
 * The last page read from each request URL with its ETag: the ETag goes back as `If-None-Match`,
 * and the page stands in for the empty body of a `304 Not Modified`.
 */
export class PageValidators {
  private readonly entries = new Map<string, Entry>()

  etag(url: string): string | undefined {
    return this.entries.get(url)?.etag
  }

  page(url: string): TaskPage | undefined {
    return this.entries.get(url)?.page
  }

  remember(url: string, etag: string, page: TaskPage): void {
    this.entries.set(url, { etag, page })
  }

  /** Forgets every URL but `urls`, so pages no longer asked for do not pile up. */
  retain(urls: ReadonlySet<string>): void {
    for (const url of this.entries.keys()) {
      if (!urls.has(url)) this.entries.delete(url)
    }
  }
}
