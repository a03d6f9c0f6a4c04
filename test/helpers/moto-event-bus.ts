import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type MotoServer, startMotoServer } from '../../local/moto-server.ts';
import type { PayoutEventDetail } from '../../shared/db/payout-events.table.ts';
import { PAYOUT_EVENT_SOURCE } from '../../shared/payout-event-bus.ts';

/** An event as EventBridge delivered it to a rule's SQS target: the envelope and our detail. */
export interface DeliveredEvent {
  id: string;
  source: string;
  'detail-type': string;
  time: string;
  detail: PayoutEventDetail;
}

/**
 * The marketplace's side of the bus, in moto: an event bus, a rule on it for our source, and an
 * SQS queue as the rule's target, read as a consumer would. Events really travel through
 * PutEvents, the rule and the target, as they do in AWS.
 */
export interface MotoEventBus {
  readonly moto: MotoServer;
  readonly region: string;
  readonly busName: string;
  /** A client of moto's EventBridge, for the code under test. */
  client(): EventBridgeClient;
  /** Every event delivered since the last call, in arrival order (consumed). */
  delivered(): Promise<DeliveredEvent[]>;
  stop(): Promise<void>;
}

const CREDENTIALS = { accessKeyId: 'moto', secretAccessKey: 'moto' };

export async function startMotoEventBus(busName = 'payouts-test'): Promise<MotoEventBus> {
  const moto = await startMotoServer();
  const region = 'eu-central-1';
  const aws = { endpoint: moto.endpoint, region, credentials: CREDENTIALS };
  const admin = new EventBridgeClient(aws);
  const sqs = new SQSClient(aws);
  const clients: EventBridgeClient[] = [admin];
  try {
    await admin.send(new CreateEventBusCommand({ Name: busName }));
    const { QueueUrl: queueUrl = '' } = await sqs.send(
      new CreateQueueCommand({ QueueName: 'marketplace-payout-events' }),
    );
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    await admin.send(
      new PutRuleCommand({
        Name: 'marketplace-payout-events',
        EventBusName: busName,
        EventPattern: JSON.stringify({ source: [PAYOUT_EVENT_SOURCE] }),
      }),
    );
    await admin.send(
      new PutTargetsCommand({
        Rule: 'marketplace-payout-events',
        EventBusName: busName,
        Targets: [{ Id: 'marketplace', Arn: Attributes?.QueueArn }],
      }),
    );
    return {
      moto,
      region,
      busName,
      client() {
        const client = new EventBridgeClient(aws);
        clients.push(client);
        return client;
      },
      async delivered() {
        const events: DeliveredEvent[] = [];
        for (;;) {
          const { Messages = [] } = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
          );
          if (Messages.length === 0) return events;
          for (const message of Messages) {
            events.push(JSON.parse(message.Body ?? '{}') as DeliveredEvent);
            await sqs.send(
              new DeleteMessageCommand({
                QueueUrl: queueUrl,
                ReceiptHandle: message.ReceiptHandle,
              }),
            );
          }
        }
      },
      async stop() {
        for (const client of clients) client.destroy();
        sqs.destroy();
        await moto.stop();
      },
    };
  } catch (error) {
    await moto.stop();
    throw error;
  }
}
