const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "[::1]" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);

/** True when `url` is plain http to a host other than this machine: what it carries crosses the network in clear. */
export function plainHttpRemote(url: URL): boolean {
  return url.protocol === "http:" && !isLoopback(url.hostname.toLowerCase());
}
