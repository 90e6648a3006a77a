import { App } from 'aws-cdk-lib';
import { environmentConfig } from '../../shared/config/environments.ts';
import {
  addNagChecks,
  addPortraitStacks,
  defaultEnvironment,
  environmentContextKey,
} from './portrait-app.ts';

const app = new App();
const name: unknown = app.node.tryGetContext(environmentContextKey) ?? defaultEnvironment;
addPortraitStacks(app, environmentConfig(String(name)));
addNagChecks(app);
app.synth();
