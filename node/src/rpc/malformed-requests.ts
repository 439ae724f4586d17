// A request whose bytes are not a valid protobuf message (truncated, a wrong wire type, a bad
// varint) is the client's fault: INVALID_ARGUMENT. grpc-js answers INTERNAL when a request
// cannot be deserialized, so the service definitions get a deserializer that never throws
// and returns a marker instead, and an interceptor answers the marker before any handler runs.
import * as grpc from '@grpc/grpc-js';

class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** The same service, its request deserializers returning a MalformedRequest instead of throwing. */
export function tolerantDeserializers(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const tolerant: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition as Record<string, grpc.MethodDefinition<unknown, unknown>>)) {
    const deserialize = method.requestDeserialize;
    tolerant[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return deserialize(bytes);
        } catch (error) {
          // protobufjs names the offset and the wire problem, never the content.
          return new MalformedRequest(error instanceof Error ? error.message : 'undecodable');
        }
      },
    };
  }
  return tolerant as grpc.ServiceDefinition;
}

/** Answers INVALID_ARGUMENT for a MalformedRequest; the handler never sees it. */
export function malformedRequestInterceptor(): grpc.ServerInterceptor {
  return (_method, call) => {
    let refused = false;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            if (message instanceof MalformedRequest) {
              refused = true;
              call.sendStatus({
                code: grpc.status.INVALID_ARGUMENT,
                details: `request: not a valid protobuf encoding of the method's request message (${message.reason})`,
                metadata: new grpc.Metadata(),
              });
              return;
            }
            nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            if (!refused) nextHalfClose();
          },
        }),
    });
  };
}
