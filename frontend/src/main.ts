import './widget.css'
import { mountAll } from './mount'

export { mount, mountAll, AUTO_MOUNT_SELECTOR } from './mount'
export type { MountedViewer } from './mount'
export type { ViewerOptions } from './types'
export { REFRESH_EVENT } from './taskFeed'

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', () => mountAll(), { once: true })
} else {
  mountAll()
}
