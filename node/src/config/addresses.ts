/** A loopback host (127.x.x.x, localhost, ::1), with or without IPv6 brackets. */
export function isLoopbackHost(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(host.replace(/^\[(.*)\]$/, '$1'));
}
