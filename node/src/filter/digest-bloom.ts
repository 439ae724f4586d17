// The filter is shared with the client SDK's mirror, so it lives with the protocol.
export * from '../../../proto/ts/digest-bloom';
