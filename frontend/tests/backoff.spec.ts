import { describe, expect, it } from 'vitest'
import { delayAfter } from '../src/backoff'
import { BACKOFF_BASE, BACKOFF_MAX } from '../src/taskFeed'
import { RECONNECT_BASE, RECONNECT_MAX } from '../src/taskStream'

describe('delayAfter', () => {
  it('waits nothing before any failure', () => {
    expect(delayAfter(0, 5, 300)).toBe(0)
  })

  it("gives the feed's retries: 5 s doubling to 300 s", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((failures) => delayAfter(failures, BACKOFF_BASE, BACKOFF_MAX))
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, 300, 300])
  })

  it("gives the stream's reopenings: 1 s doubling to 60 s", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((failures) => delayAfter(failures, RECONNECT_BASE, RECONNECT_MAX))
    expect(delays).toEqual([1, 2, 4, 8, 16, 32, 60, 60])
  })

  it('stays at the cap however long it fails', () => {
    expect(delayAfter(5000, 5, 300)).toBe(300)
  })
})
