/** An API failure with the HTTP status it answers (a bad request, a missing mount). */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ApiCall {
  /** The `:name` parts of the route's path. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body (for POST and DELETE). */
  body: unknown;
}

export type ApiHandler = (call: ApiCall) => Promise<unknown>;

interface Route {
  method: string;
  parts: string[];
  handler: ApiHandler;
}

/** Method + path patterns (`/api/ns/:id`) to handlers. */
export class ApiRoutes {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: ApiHandler): this {
    this.routes.push({ method, parts: path.split('/'), handler });
    return this;
  }

  find(method: string, path: string): { handler: ApiHandler; params: Record<string, string> } | undefined {
    const parts = path.split('/');
    for (const route of this.routes) {
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) continue;
      if (route.parts.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const matches = route.parts.every((p, i) => {
        if (!p.startsWith(':')) return p === parts[i];
        try {
          params[p.slice(1)] = decodeURIComponent(parts[i]!);
        } catch {
          return false;
        }
        return parts[i] !== '';
      });
      if (matches) return { handler: route.handler, params };
    }
    return undefined;
  }
}

/** The body as an object of strings, booleans and numbers, or a 400. */
export function fieldsOf(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'expected a JSON object');
  return body as Record<string, unknown>;
}

export function stringField(fields: Record<string, unknown>, name: string, options: { required?: boolean } = {}): string | undefined {
  const value = fields[name];
  if (value === undefined || value === null || value === '') {
    if (options.required) throw new ApiError(400, `${name} is required`);
    return undefined;
  }
  if (typeof value !== 'string') throw new ApiError(400, `${name} must be a string`);
  if (value.length > 4096 || /[\0\n\r]/.test(value)) throw new ApiError(400, `${name} is not a valid value`);
  return value;
}

export function booleanField(fields: Record<string, unknown>, name: string): boolean {
  const value = fields[name];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new ApiError(400, `${name} must be true or false`);
  return value;
}
