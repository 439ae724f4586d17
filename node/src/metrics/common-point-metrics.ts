// Common point of purchase in the node's metrics: at the aggregator, analyses run and fraud
// reports opened or refused; on every node, the size of the merchant watch list. Counts only.
import { Counter, Gauge, type Registry } from 'prom-client';

/** What the aggregator's analyser counts. */
export interface CommonPointCounts {
  readonly analyses: number;
  reportCounts(): { opened: number; refused: number };
}

export function registerCommonPointMetrics(registry: Registry, watchedMerchants: () => number, analyser: CommonPointCounts | undefined): void {
  new Gauge({
    name: 'mamori_watched_merchant_selectors',
    help: "Merchant selectors on this member's watch list",
    registers: [registry],
    collect() {
      this.set(watchedMerchants());
    },
  });
  if (!analyser) return;
  new Counter({
    name: 'mamori_common_point_analyses_total',
    help: 'Common-point analyses run by this node (the consortium aggregator) since start',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(analyser.analyses);
    },
  });
  new Gauge({
    name: 'mamori_fraud_reports',
    help: 'Fraud-report entries examined by the aggregator, by result (opened, refused)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      const counts = analyser.reportCounts();
      this.set({ result: 'opened' }, counts.opened);
      this.set({ result: 'refused' }, counts.refused);
    },
  });
}
