/**
 * The path a file at `path` has after a rename of `from` to `to` (paths of a FUSE filesystem):
 * `from` itself and everything below it move; any other path stays as it is.
 */
export function renamedPath(path: string, from: string, to: string): string {
  if (path === from) return to;
  return path.startsWith(`${from}/`) ? to + path.slice(from.length) : path;
}
