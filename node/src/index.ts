// The public surface of the Mamori node package.
export { MamoriNode, type PublishOutcome, type RetractOutcome } from './exchange/node';
export type { CheckVerdict, Evidence } from './verdict/evidence';
export { Consortium, activeEpochs } from './membership/consortium';
export { loadNodeConfig, type NodeConfig } from './config/node-config';
export { ConfigError } from './config/errors';
export { startExchangeServer, type RunningServer } from './rpc/server';
export { openNode, type OpenNode } from './runtime/open-node';
export { runNode, runExchangeNode, type RunningNode, type ExchangeNode } from './runtime/run-node';
export { exchangePorts } from './runtime/ports';
export { createDevConsortium, devLayout, DEV_MEMBERS, type DevConsortiumLayout } from './runtime/dev-consortium';
export { MamoriError, type ErrorCode } from './ledger/errors';
export { main } from './cli/main';
