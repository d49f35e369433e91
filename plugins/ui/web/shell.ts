/** What a view leaves behind to be taken down when another view is shown. */
export interface ViewHandle {
  destroy(): void;
}

let noticeTimer: ReturnType<typeof setTimeout> | undefined;

/** A one-line message under the view (an error stays until the next one). */
export function notify(message: string, error = false): undefined {
  const notice = document.getElementById('notice');
  if (!notice) return undefined;
  notice.textContent = message;
  notice.className = error ? 'error' : '';
  notice.hidden = false;
  if (noticeTimer) clearTimeout(noticeTimer);
  if (!error) noticeTimer = setTimeout(() => (notice.hidden = true), 8000);
  return undefined;
}
