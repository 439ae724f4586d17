// The files that move between a member and the operator when a consortium forms
// (docs/runbook-consortium.md): the member's join request, the operator's join response, and
// the hashing-key epochs the operator keeps to seal them to members who join later.
import { z } from 'zod';
import { base64 as base64Key, consortiumFileSchema, hostPort, memberId } from './schemas';

export const MEMBER_ROLES = ['issuer', 'acquirer', 'psp'] as const;
export const JOIN_REQUEST_FORMAT = 'mamori-join-request/1';
export const JOIN_RESPONSE_FORMAT = 'mamori-join-response/1';

export const binRange = z.string().regex(/^[0-9]{6,8}$/, 'expected a BIN: 6 to 8 digits');

/** Written by `mamori member init`; public keys and the CSR only, signed with the member's Ed25519 key. */
export const joinRequestSchema = z
  .object({
    format: z.literal(JOIN_REQUEST_FORMAT),
    member: memberId,
    roles: z.array(z.enum(MEMBER_ROLES, { message: `expected one of ${MEMBER_ROLES.join(', ')}` })).min(1, 'a member needs a role').max(3),
    endpoint: hostPort,
    binRanges: z.array(binRange).max(1000),
    signingPublicKey: base64Key(32, 'an Ed25519 public key'),
    boxPublicKey: base64Key(32, 'an X25519 public key'),
    csr: z.string().min(1).max(16_384),
    createdAtMs: z.number().int().min(0),
    signature: base64Key(64, 'an Ed25519 signature'),
  })
  .strict();

/** Written by `mamori consortium add-member` for that member only; installed by `mamori member join`. */
export const joinResponseSchema = z
  .object({
    format: z.literal(JOIN_RESPONSE_FORMAT),
    member: memberId,
    signingPublicKey: base64Key(32, 'an Ed25519 public key'),
    boxPublicKey: base64Key(32, 'an X25519 public key'),
    consortium: consortiumFileSchema,
    certificate: z.string().min(1).max(16_384),
    caCertificate: z.string().min(1).max(16_384),
    peers: z.array(z.object({ member: memberId, endpoint: hostPort }).strict()),
  })
  .strict();

/** OPDIR/epoch-keys.json (0600): every hashing-key epoch, so a member joining later is sealed the keys in force. */
export const operatorEpochKeysSchema = z
  .object({ epochs: z.array(z.object({ epoch: z.number().int().min(1), key: base64Key(32, 'a hashing key') }).strict()) })
  .strict();

export type JoinRequest = z.infer<typeof joinRequestSchema>;
export type JoinResponse = z.infer<typeof joinResponseSchema>;
export type OperatorEpochKeys = z.infer<typeof operatorEpochKeysSchema>;
