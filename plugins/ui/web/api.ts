// Calls to the server's API. Same origin, the session cookie goes along by itself; a state
// change sends JSON (the server takes no other type, and checks the Origin browsers add).

export class ApiFailure extends Error {
  constructor(readonly status: number, message: string, readonly hint?: string) {
    super(message);
    this.name = 'ApiFailure';
  }
}

async function parse<T>(response: Response): Promise<T> {
  const body = (await response.json().catch(() => ({}))) as { error?: string; hint?: string };
  if (!response.ok) throw new ApiFailure(response.status, body.error ?? `HTTP ${response.status}`, body.hint);
  return body as T;
}

export async function getJson<T>(path: string): Promise<T> {
  return parse<T>(await fetch(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' }));
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return parse<T>(await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' }));
}

export function describeFailure(err: unknown): string {
  if (err instanceof ApiFailure) return err.hint ? `${err.message} (${err.hint})` : err.message;
  return err instanceof Error ? err.message : String(err);
}

export interface Session {
  user: string;
  uid: number;
  mountKinds: string[];
  graphViewer: boolean;
}
