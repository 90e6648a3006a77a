process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * Vitest global setup: one fresh in-memory DynamoDB Local for the whole run.
 * Test files reach it with `inject('dynamoEndpoint')` (see `test/support/dynamo.ts`).
 */
import type { TestProject } from 'vitest/node';
import { FAST_START_JVM_ARGS, startDynamoDbLocal } from '../../infra/local/dynamodb-local.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dynamo = await startDynamoDbLocal({
    jvmArgs: FAST_START_JVM_ARGS,
    // Test runs start several JVMs and workers at once; give a loaded laptop more than 30 s.
    readyTimeoutMs: 90_000,
    log: process.env.PORTRAIT_DEBUG_DYNAMODB ? (line) => console.error(`[ddb] ${line}`) : undefined,
  });
  project.provide('dynamoEndpoint', dynamo.endpoint);
  return async () => {
    await dynamo.stop();
  };
}
