// GET /metrics over plain HTTP for a Prometheus scraper. Nothing else is served.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { isLoopbackHost } from '../config/addresses';

/** What the endpoint serves: Prometheus text and its content type (a NodeMetrics). */
export interface MetricsSource {
  scrape(): Promise<string>;
  registry: { contentType: string };
}

export interface RunningMetricsServer {
  port: number;
  address: string;
  close(): Promise<void>;
}

/** "host:port" or "[v6]:port" → host and port. */
function splitHostPort(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  return { host: listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(listen.slice(colon + 1)) };
}

export async function startMetricsServer(listen: string, source: MetricsSource, log: Logger): Promise<RunningMetricsServer> {
  const { host, port } = splitHostPort(listen);
  if (!isLoopbackHost(host)) log.warn({ metricsListen: listen }, 'metrics served beyond loopback: the endpoint is unauthenticated, keep it on a management network');
  const server = http.createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    source.scrape().then(
      (body) => res.writeHead(200, { 'Content-Type': source.registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (error: unknown) => {
        log.error({ err: error }, 'metrics scrape failed');
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    address: `${host.includes(':') ? `[${host}]` : host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
