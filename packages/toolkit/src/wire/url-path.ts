/** A request URL's path: what comes before its query string (which may carry secrets). */
export function urlPath(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
