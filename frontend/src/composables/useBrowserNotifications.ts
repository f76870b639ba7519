import { useEventListener } from './useEventListener'

function supported(): boolean {
  return typeof Notification !== 'undefined'
}

/**
 * Tells of ended tasks through the Notification API while the page is hidden. Permission is
 * asked only from `ask()`, to be called on a person's gesture, and only once.
 */
export function useBrowserNotifications() {
  function ask(): void {
    if (supported() && Notification.permission === 'default') void Notification.requestPermission()
  }

  /** One notification per task (`tag`): the tabs of one browser that all tell show one. */
  function notify(tag: string, title: string, body: string): void {
    if (!supported() || Notification.permission !== 'granted' || !document.hidden) return
    const notification = new Notification(title, { body, tag })
    useEventListener(notification, 'click', () => {
      window.focus()
      notification.close()
    })
  }

  return { ask, notify }
}
