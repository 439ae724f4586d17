// Prometheus metrics for a node: the registry (node-metrics.ts) and its HTTP endpoint.
import type { Logger } from 'pino';
import { startMetricsServer, type RunningMetricsServer } from './http-server';
import { createNodeMetrics, type MetricsSources } from './node-metrics';

export * from './http-server';
export * from './node-metrics';

/** The node's metrics served on `listen` (host:port) until close(). */
export async function serveNodeMetrics(sources: MetricsSources, listen: string, log: Logger): Promise<RunningMetricsServer> {
  const metrics = createNodeMetrics(sources);
  try {
    const server = await startMetricsServer(listen, metrics, log);
    return {
      ...server,
      close: async () => {
        metrics.close();
        await server.close();
      },
    };
  } catch (error) {
    metrics.close();
    throw error;
  }
}
