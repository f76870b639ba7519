import { describe, expect, it } from 'vitest'
import { appendNew, finishedSince, sameTasks } from '../src/taskList'
import { makeTask } from './helpers'

describe('the task list', () => {
  it('appends only the tasks it does not have', () => {
    const [a, b, c] = [makeTask(), makeTask(), makeTask()]
    expect(appendNew([a!, b!], [{ ...b! }, c!])).toEqual([a, b, c])
  })

  it('is the same only with the very same objects in the same order', () => {
    const [a, b] = [makeTask(), makeTask()]
    expect(sameTasks([a!, b!], [a!, b!])).toBe(true)
    expect(sameTasks([a!, b!], [b!, a!])).toBe(false)
    expect(sameTasks([a!, b!], [a!, { ...b! }])).toBe(false)
    expect(sameTasks([a!], [a!, b!])).toBe(false)
  })

  it('finds the tasks that finished or failed since, not those already over or new', () => {
    const running = makeTask({ state: 'PROCESSING' })
    const pending = makeTask({ state: 'PENDING' })
    const still = makeTask({ state: 'PROCESSING' })
    const over = makeTask({ state: 'DONE' })
    const previous = [running, pending, still, over]
    const current = [
      { ...running, state: 'DONE' as const },
      { ...pending, state: 'ERROR' as const },
      still,
      { ...over },
      makeTask({ state: 'DONE' }),
    ]
    expect(finishedSince(previous, current).map((task) => task.uuid)).toEqual([running.uuid, pending.uuid])
  })

  it('leaves out the tasks that were cancelled', () => {
    const running = makeTask({ state: 'PROCESSING' })
    const pending = makeTask({ state: 'PENDING' })
    expect(finishedSince([running, pending], [{ ...running, state: 'CANCELLED' }, { ...pending, state: 'CANCELLED' }])).toEqual([])
  })
})
