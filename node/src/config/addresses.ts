import { ConfigError } from './errors';

/** A loopback host (127.x.x.x, localhost, ::1), with or without IPv6 brackets. */
export function isLoopbackHost(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(host.replace(/^\[(.*)\]$/, '$1'));
}

/** The node.json fields naming an address a server binds. */
export type ListenField = 'listen' | 'peerListen' | 'metricsListen';

/**
 * Why an address could not be bound, as an operator reads it: the field, the address and the
 * reason. grpc-js reports a failed bind as "No address added out of total N resolved" with the
 * system error inside its message; Node's own servers give the error code.
 */
export function bindFailure(config: { configFile: string }, field: ListenField, address: string, error: unknown): ConfigError {
  const text = `${(error as NodeJS.ErrnoException | undefined)?.code ?? ''} ${error instanceof Error ? error.message : String(error)}`;
  const reason = /EADDRINUSE|address already in use/i.test(text)
    ? 'is already in use (another process listens there)'
    : /EADDRNOTAVAIL|address not available/i.test(text)
      ? 'is not an address of this machine'
      : /EACCES|permission denied/i.test(text)
        ? 'cannot be bound: permission denied (ports below 1024 need privileges)'
        : `cannot be bound (${text.trim()})`;
  return new ConfigError(config.configFile, [`${field}: ${address} ${reason}`]);
}
