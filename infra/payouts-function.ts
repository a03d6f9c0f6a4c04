import { fileURLToPath } from 'node:url';
import { Aws, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../shared/metric-names.ts';
import type { DatabaseTopology } from './environments.ts';

/** What every payouts Lambda of one environment shares. */
export interface PayoutsFunctionSettings {
  graceHours: number;
  logRetention: logs.RetentionDays;
  /** Of the log group: prod keeps its logs when the stack is deleted. */
  removalPolicy: RemovalPolicy;
  /**
   * RDS-format credentials of this function's own database role (the stack gives each function
   * its own settings): it may read that secret and no other.
   */
  dbSecret: secretsmanager.ISecret;
  /** Subnets and security groups, when the functions run in a VPC. */
  network?: FunctionNetwork;
}

export type FunctionNetwork = Pick<NodejsFunctionProps, 'vpc' | 'vpcSubnets' | 'securityGroups'>;

export interface PayoutsFunctionProps
  extends Pick<
    NodejsFunctionProps,
    'description' | 'timeout' | 'reservedConcurrentExecutions' | 'retryAttempts' | 'onFailure'
  > {
  /** Path of the handler file from infra/; it exports `handler`. */
  entry: string;
  /** Powertools service name: the `service` dimension the alarms read. */
  serviceName: string;
  /** This function's own variables, beside the common ones. */
  environment?: Record<string, string>;
  settings: PayoutsFunctionSettings;
}

/**
 * A payouts Lambda: nodejs22.x on arm64, traced, bundled with esbuild, with a role and a log group
 * of its own (no managed policy: it may write its own log group only) and its database role's secret.
 */
export class PayoutsFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: PayoutsFunctionProps) {
    const { entry, serviceName, environment, settings, ...functionProps } = props;
    // Siblings, not children: a construct has no children before super() returns.
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Role of the ${serviceName} Lambda`,
    });
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
    });
    super(scope, id, {
      ...functionProps,
      ...settings.network,
      entry: fileURLToPath(new URL(entry, import.meta.url)),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      tracing: lambda.Tracing.ACTIVE,
      bundling: { minify: true, sourceMap: true, target: 'node22' },
      role,
      logGroup,
      environment: {
        PAYOUT_GRACE_HOURS: String(settings.graceHours),
        PAYOUTS_PAUSED: 'false',
        DB_SECRET_ARN: settings.dbSecret.secretArn,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_SERVICE_NAME: serviceName,
        // Lambda's Node trusts the RDS CA only through this file; the pool verifies the server.
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
        ...environment,
      },
    });
    logGroup.grantWrite(role);
    settings.dbSecret.grantRead(this);
    if (settings.network) grantNetworkInterfaces(role);

    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: settings.network
        ? 'Only xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) and ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets (the function in a VPC): none supports resource-level permissions.'
        : 'Only xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing): X-Ray supports no resource-level permissions for them.',
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'nodejs22.x on purpose: the code is built and tested for Node 22 (esbuild target node22); moving to a newer runtime is a deliberate, tested change.',
    });
  }
}

/** The database's subnets and security groups, from ids only: synth does no lookups. */
export function functionNetwork(
  scope: Construct,
  database: DatabaseTopology,
): FunctionNetwork | undefined {
  if (database.topology === 'public-tls') return undefined;
  const { vpcId, availabilityZones, privateSubnetIds, securityGroupIds } = database.vpc;
  const vpc = ec2.Vpc.fromVpcAttributes(scope, 'Vpc', {
    vpcId,
    availabilityZones,
    privateSubnetIds,
  });
  const subnets = privateSubnetIds.map((id) => ec2.Subnet.fromSubnetId(scope, id, id));
  for (const imported of [vpc, ...subnets]) {
    Validations.of(imported).acknowledge({
      id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
      reason: 'Nothing here reads the route tables: the functions only attach to these subnets.',
    });
  }
  return {
    vpc,
    vpcSubnets: { subnets },
    securityGroups: securityGroupIds.map((id) =>
      ec2.SecurityGroup.fromSecurityGroupId(scope, id, id),
    ),
  };
}

/**
 * Lambda creates a VPC function's network interfaces with the function's role (the EC2 actions of
 * AWSLambdaVPCAccessExecutionRole, which has them on "*"): here within this account and region.
 */
function grantNetworkInterfaces(role: iam.Role): void {
  const thisAccountAndRegion = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:*/*`;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'],
      resources: ['*'],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [
        'ec2:CreateNetworkInterface',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ],
      resources: [thisAccountAndRegion],
    }),
  );
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:*/*]',
    reason:
      "A VPC function's network interfaces, subnets and security groups in this account and region: their ids are not known before Lambda creates the interfaces (AWS's documented scope for ec2:DeleteNetworkInterface).",
  });
}
