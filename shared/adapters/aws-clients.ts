import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * SDK clients, created once per process. Endpoints come from the SDK's own standard variables
 * (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS`), which the local runtime sets to its
 * stand-ins; on AWS they are unset and the regional endpoints apply.
 */
export interface AwsClients {
  readonly dynamo: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
}

let shared: AwsClients | undefined;

export function awsClients(): AwsClients {
  if (!shared) {
    const dynamo = new DynamoDBClient({});
    shared = {
      dynamo,
      documents: DynamoDBDocumentClient.from(dynamo, {
        marshallOptions: { removeUndefinedValues: true },
      }),
      sqs: new SQSClient({}),
    };
  }
  return shared;
}
