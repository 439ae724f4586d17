// A gRPC server stream opened with Node's own HTTP/2 client and never read: its receive window
// fills and the server sees real backpressure. (A grpc-js client is no such client: it keeps
// pulling messages into its own memory even when the application does not read them.)
import * as http2 from 'node:http2';

export interface StalledStream {
  /** Starts reading: resolves with the grpc-status and how many data bytes arrived first. */
  drain(): Promise<{ code: number; details: string; bytes: number }>;
  /** Resolves when the stream is closed, by either side. */
  closed: Promise<void>;
}

/** A length-prefixed gRPC message (uncompressed). */
export function grpcFrame(message: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** `request`: the one request message, or (a bidirectional method) every message the client sends before it half-closes. */
export function openStalledStream(session: http2.ClientHttp2Session, path: string, request: Buffer | readonly Buffer[], headers: Record<string, string> = {}): StalledStream {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
  stream.on('error', () => undefined); // a reset by the server is an outcome, seen through 'close'
  stream.end(Buffer.isBuffer(request) ? grpcFrame(request) : Buffer.concat(request.map(grpcFrame)));
  stream.pause();
  let status: { code: number; details: string } | undefined;
  const statusOf = (h: http2.IncomingHttpHeaders) => {
    if (h['grpc-status'] !== undefined) status = { code: Number(h['grpc-status']), details: decodeURIComponent(String(h['grpc-message'] ?? '')) };
  };
  stream.on('response', statusOf); // a trailers-only answer
  stream.on('trailers', statusOf);
  const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  return {
    closed,
    drain: async () => {
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
      stream.resume();
      await closed;
      return { ...(status ?? { code: -1, details: `closed without a status (HTTP/2 code ${stream.rstCode})` }), bytes };
    },
  };
}
