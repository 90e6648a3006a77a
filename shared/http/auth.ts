import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Scope } from '../../infra/declarations/routes.ts';
import type { WriteKeyRecord } from '../adapters/write-key-store.ts';
import { writeKeyFromAuthorization } from '../domain/keys/write-key.ts';
import { InsufficientScopeError, InvalidWriteKeyError, MissingWriteKeyError } from './errors.ts';
import { header } from './request.ts';

/**
 * The key of a read or management request (HTTP Basic user name or Bearer token), checked to
 * hold `scope`: 401 without a known key, 403 with a code when the scope is missing.
 */
export async function authorizeRequest(
  event: APIGatewayProxyEventV2,
  lookupKey: (rawKey: string) => Promise<WriteKeyRecord | undefined>,
  scope: Scope,
): Promise<WriteKeyRecord> {
  const rawKey = writeKeyFromAuthorization(header(event, 'authorization'));
  if (!rawKey) throw new MissingWriteKeyError();
  const record = await lookupKey(rawKey);
  if (!record) throw new InvalidWriteKeyError();
  if (!record.scopes.includes(scope)) throw new InsufficientScopeError(scope);
  return record;
}
