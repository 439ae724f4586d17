// A stand-in for a member's node on the EvaluatePanSelectors path, for SDK tests and the
// selector benchmark: a real gRPC server (Exchange service, nothing else implemented) whose
// evaluators are real TprfEvaluator instances from dealSeeds and whose plans come from the real
// planner. The node side proper (forwarding over peer connections, budgets, dealing from the
// consortium file) is built in node/; this only answers as that node will. It records every
// request, as the bytes that arrived and as decoded, and can take evaluators down, make one
// answer wrongly, refuse the whole call, hold answers, deal a new set, or change the BIN length.
import * as grpc from '@grpc/grpc-js';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import type { EvaluatePanSelectorsRequest__Output } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsRequest';
import type { EvaluatePanSelectorsResponse } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsResponse';
import type { EvaluatorAnswer } from '../../proto/gen/mamori/v1/EvaluatorAnswer';
import { oprfReady } from '../../proto/ts/oprf/group';
import { TprfEvaluator, binKey, dealSeeds, evaluateDirect, planEvaluation, type EvaluatorSeeds, type TprfDescription } from '../../proto/ts/oprf/threshold';

/** Rewrites one answer element: (evaluator, item, group index in its answer, element, the item's BIN) → what is sent. */
export type Tamper = (evaluator: string, item: number, group: number, element: Uint8Array, bin: string) => Uint8Array;

export interface StandInOptions {
  evaluators?: string[];
  t?: number;
  binDigits?: 6 | 8;
}

export class TprfStandIn {
  description!: TprfDescription;
  shares!: EvaluatorSeeds[];
  private evaluators = new Map<string, TprfEvaluator>();
  binDigits: 6 | 8;
  /** Every EvaluatePanSelectors request, decoded, in arrival order. */
  readonly requests: EvaluatePanSelectorsRequest__Output[] = [];
  /** The same requests as the bytes that arrived (the serialized messages). */
  readonly rawRequests: Buffer[] = [];
  /** Calls that carried cards, and cards evaluated (each element counted once per call). */
  readonly served = { parameterCalls: 0, evaluationCalls: 0, elements: 0 };
  /** Evaluators that do not answer (the node reports them UNAVAILABLE). */
  readonly down = new Set<string>();
  tamper: Tamper | undefined;
  /** An evaluator that refuses, with this error code (e.g. RESOURCE_EXHAUSTED for a budget). */
  refusal: { evaluator: string; code: string; message: string } | undefined;
  /** The node refuses the whole call with this status, this many times (then answers again). */
  failure: { code: grpc.status; details: string; times: number } | undefined;
  /** While set, answers wait for it. */
  hold: Promise<void> | undefined;

  private constructor(
    private readonly server: grpc.Server,
    readonly target: string,
    options: StandInOptions,
  ) {
    this.binDigits = options.binDigits ?? 6;
    this.deal(options.evaluators ?? ['issuer-a', 'acquirer-b', 'psp-c'], options.t ?? 2);
  }

  static async start(options: StandInOptions = {}): Promise<TprfStandIn> {
    await oprfReady();
    const server = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const standIn = new TprfStandIn(server, `127.0.0.1:${port}`, options);
    const service = loadGrpcTypes().mamori.v1.Exchange.service;
    const method = service.EvaluatePanSelectors;
    // The service definition with a request decoder that keeps the bytes that arrived.
    const recording = {
      ...service,
      EvaluatePanSelectors: {
        ...method,
        requestDeserialize: (bytes: Buffer) => {
          standIn.rawRequests.push(Buffer.from(bytes));
          return method.requestDeserialize(bytes);
        },
      },
    };
    server.addService(recording, {
      EvaluatePanSelectors: (call: grpc.ServerUnaryCall<EvaluatePanSelectorsRequest__Output, EvaluatePanSelectorsResponse>, callback: grpc.sendUnaryData<EvaluatePanSelectorsResponse>) => {
        standIn.answer(call.request).then(
          (response) => callback(null, response),
          (error: { code: grpc.status; details: string }) => callback(error),
        );
      },
    });
    return standIn;
  }

  /** A new dealing (new setId, new seeds): every selector changes. */
  deal(ids: string[] = this.description.evaluators, t = this.description.t): void {
    const { description, shares } = dealSeeds(ids, t);
    this.description = description;
    this.shares = shares;
    this.evaluators = new Map(shares.map((s) => [s.evaluator, new TprfEvaluator(description, s)]));
  }

  /** The selector computed directly with the whole key k_b (what the client must arrive at). */
  expectedSelector(pan: string): string {
    const bin = pan.slice(0, this.binDigits);
    return Buffer.from(evaluateDirect(binKey(this.description, this.shares, bin), pan, bin).subarray(0, 32)).toString('hex');
  }

  close(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }

  private async answer(request: EvaluatePanSelectorsRequest__Output): Promise<EvaluatePanSelectorsResponse> {
    this.requests.push(request);
    if (this.hold) await this.hold;
    if (this.failure && this.failure.times > 0) {
      this.failure.times--;
      throw { code: this.failure.code, details: this.failure.details };
    }
    const d = this.description;
    const response: EvaluatePanSelectorsResponse = { setId: d.setId, threshold: d.t, evaluators: d.evaluators, binDigits: this.binDigits, answers: [] };
    if (request.items.length === 0) {
      this.served.parameterCalls++;
      return response;
    }
    request.items.forEach((item, i) => {
      if (item.bin.length !== this.binDigits) throw { code: grpc.status.INVALID_ARGUMENT, details: `items[${i}].bin: must be ${this.binDigits} digits under set ${d.setId}` };
    });
    this.served.evaluationCalls++;
    this.served.elements += request.items.length;
    const reachable = d.evaluators.filter((id) => !this.down.has(id) && !request.exclude.includes(id));
    let plan = planEvaluation(d, reachable, { verify: request.verify });
    // Verify needs two holders of every seed; after exclusions the node does what it can.
    if (!plan.ok && request.verify) plan = planEvaluation(d, reachable);
    const unreachable: EvaluatorAnswer[] = d.evaluators
      .filter((id) => this.down.has(id) && !request.exclude.includes(id))
      .map((id) => ({ evaluator: id, errorCode: 'UNAVAILABLE', errorMessage: 'evaluator not reachable' }));
    if (!plan.ok) return { ...response, answers: unreachable };
    const bins = request.items.map((i) => i.bin);
    const blindedElements = request.items.map((i) => new Uint8Array(i.blinded));
    for (const [id, groups] of plan.requests) {
      if (this.refusal?.evaluator === id) {
        response.answers?.push({ evaluator: id, errorCode: this.refusal.code, errorMessage: this.refusal.message });
        continue;
      }
      const rows = (this.evaluators.get(id) as TprfEvaluator).evaluate({ groups, bins, blindedElements });
      const elements = Buffer.concat(rows.flatMap((row, e) => row.map((point, g) => (this.tamper ? this.tamper(id, e, g, point, bins[e] as string) : point))));
      response.answers?.push({ evaluator: id, groups: groups.map((labels) => ({ labels })), elements });
    }
    response.answers?.push(...unreachable);
    return response;
  }
}
