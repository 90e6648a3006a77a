import { RemovalPolicy } from 'aws-cdk-lib';
import type { EnvironmentConfig } from '../../../shared/config/environments.ts';

/** Removal policy for anything that holds data: kept on stack deletion where config retains data. */
export function dataRemovalPolicy(config: EnvironmentConfig): RemovalPolicy {
  return config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
}
