// A read replica (docs/operations.md#read-replicas) answers checks, mirrors, alerts and status
// but signs nothing: every Exchange method that would sign an entry or change what the member
// keeps is refused right after authentication, before its request is even validated, so a
// refused call changes nothing at the replica. The client is told where writes go.
import type { Authenticator, ExchangeMethod } from './auth';

/**
 * The calls a replica refuses: those that sign an entry of the member's feed, and
 * WatchMerchants, whose watch list the signer keeps (it raises the member's watch alerts).
 * Unfreeze stays open: a replica checks equivocation itself, and only its own operator can
 * accept a frozen origin again at that node.
 */
export const REPLICA_REFUSED_METHODS: ReadonlySet<ExchangeMethod> = new Set<ExchangeMethod>([
  'Publish',
  'Retract',
  'ReportCardTesting',
  'ReportSightings',
  'ReportFraud',
  'WatchMerchants',
]);

/** The authenticator of the Exchange handlers, throwing the replica's refusal for write methods. */
export function refusingWritesOnReplica(authenticate: Authenticator, refusal: () => Error | undefined): Authenticator {
  return (metadata, method) => {
    const caller = authenticate(metadata, method);
    const refused = REPLICA_REFUSED_METHODS.has(method) ? refusal() : undefined;
    if (refused) throw refused;
    return caller;
  };
}
