// An authorization service as a payment team could start from it: an HTTP request per
// card-not-present authorization, one Mamori check, a decision out.
//
//   npm run build
//   node dist/examples/authorization-pipeline.js --config path/to/client.json [--port 8080]
//     [--mode mirror|remote] [--fail-mode open|closed] [--deadline-ms 50]
//
// The check budget is client.json's deadlineMs unless --deadline-ms is given (the SDK's
// default, without either, is 50 ms).
//
//   curl -s localhost:8080/authorize -d '{"pan":"4545 4512 3456 7898","amount":1200,"currency":"JPY"}'
//   → {"decision":"approve", ...} | {"decision":"challenge","challenge":"emv-3ds", ...} | review | decline
//   curl -s localhost:8080/health   → the SDK's own status: mirror, degraded since, counters
//
// The card number is hashed inside this process by the SDK and never logged or echoed here.
import * as http from 'node:http';
import { parseArgs } from 'node:util';
// In your service: import { MamoriClient, ... } from 'mamori/client';
import { MamoriClient, MamoriClientError, type CardCheckResult, type CheckMode, type ClientOptions, type FailMode } from '../client-sdk/src';

interface AuthorizationRequest {
  pan: string;
  amount?: number;
  currency?: string;
  merchantId?: string;
}

interface Decision {
  decision: 'approve' | 'challenge' | 'review' | 'decline';
  /** For challenge: how to challenge the cardholder. */
  challenge?: 'emv-3ds';
  /** What Mamori said, minus anything about the card itself. */
  mamori: { listed: boolean; listingMembers: number; reasons: string[]; source: string; degraded: boolean };
}

const MAX_BODY_BYTES = 16 * 1024;

/** The SDK recommends an action; this is where the pipeline turns it into what it does next. */
function decide(check: CardCheckResult): Decision {
  const mamori = {
    listed: check.listed,
    listingMembers: check.listingMembers,
    reasons: check.evidence.map((e) => e.reason),
    source: check.source,
    degraded: check.degraded,
  };
  switch (check.action) {
    case 'approve':
      return { decision: 'approve', mamori }; // on to the issuer as usual
    case 'step_up':
      return { decision: 'challenge', challenge: 'emv-3ds', mamori }; // frictionless is off: ask the cardholder
    case 'review':
      return { decision: 'review', mamori }; // hold the order for an analyst or the rules engine
    case 'decline':
      return { decision: 'decline', mamori };
  }
}

async function authorize(client: MamoriClient, request: AuthorizationRequest, failMode: FailMode, log: (m: string) => void): Promise<{ status: number; body: object }> {
  try {
    const check = await client.checkCard(request.pan, { transaction: { amount: request.amount, currency: request.currency, merchantId: request.merchantId } });
    return { status: 200, body: decide(check) };
  } catch (error) {
    if (error instanceof MamoriClientError && error.code === 'INVALID_PAN') {
      return { status: 400, body: { error: error.message } }; // the message never contains the number
    }
    // Timeouts and an unreachable node are answered by the SDK's fail mode already. Anything
    // else (a bad token, a bug) must not become the reason a payment fails either: log it for
    // the operator and decide as the fail mode would.
    log(`mamori check failed: ${error instanceof MamoriClientError ? error.code : 'ERROR'}: ${(error as Error).message}`);
    const mamori = { listed: false, listingMembers: 0, reasons: [], source: 'error', degraded: true };
    return { status: 200, body: failMode === 'open' ? { decision: 'approve', mamori } : { decision: 'review', mamori } };
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('request body too large'));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseRequest(text: string): AuthorizationRequest | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'body: expected JSON';
  }
  const r = json as Partial<AuthorizationRequest> | null;
  if (typeof r !== 'object' || r === null || typeof r.pan !== 'string') return 'pan: expected a string';
  if (r.amount !== undefined && (typeof r.amount !== 'number' || !(r.amount >= 0))) return 'amount: expected a non-negative number';
  return { pan: r.pan, amount: r.amount, currency: typeof r.currency === 'string' ? r.currency : undefined, merchantId: typeof r.merchantId === 'string' ? r.merchantId : undefined };
}

function send(res: http.ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      mode: { type: 'string' },
      'fail-mode': { type: 'string' },
      'deadline-ms': { type: 'string' },
    },
  });
  if (!values.config) throw new Error('usage: authorization-pipeline --config client.json [--port 8080] [--mode mirror|remote] [--fail-mode open|closed] [--deadline-ms 50]');
  const log = (m: string) => console.error(`${new Date().toISOString()} ${m}`);
  const overrides: Partial<ClientOptions> = { log };
  if (values.mode) overrides.mode = values.mode as CheckMode;
  if (values['fail-mode']) overrides.failMode = values['fail-mode'] as FailMode;
  if (values['deadline-ms']) overrides.deadlineMs = Number(values['deadline-ms']);
  const client = MamoriClient.fromConfigFile(values.config, overrides);
  const { failMode, mode, deadlineMs } = client.options;

  // Warm up (keys, mirror) but start anyway: until the node answers, the fail mode does.
  await client.waitForReady(5_000).catch((error: Error) => log(`node not ready yet (${error.message}); serving with fail-${failMode} answers until it is`));

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/health') return send(res, 200, client.sdkStatus());
    if (req.method !== 'POST' || req.url !== '/authorize') return send(res, 404, { error: 'POST /authorize or GET /health' });
    readBody(req)
      .then(async (text) => {
        const request = parseRequest(text);
        if (typeof request === 'string') return send(res, 400, { error: request });
        const { status, body } = await authorize(client, request, failMode, log);
        send(res, status, body);
      })
      .catch((error: Error) => send(res, 400, { error: error.message }));
  });
  server.listen(Number(values.port), values.host, () => {
    const { port } = server.address() as { port: number };
    console.log(`authorization pipeline listening on http://${values.host}:${port} (mode ${mode}, fail-${failMode}, deadline ${deadlineMs} ms)`);
  });

  const stop = () => {
    server.close();
    client.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exitCode = 1;
});
