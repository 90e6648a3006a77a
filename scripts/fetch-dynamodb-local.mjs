#!/usr/bin/env node
// Fetches AWS's DynamoDB Local (a Java jar) from the npm package `amplify-dynamodb-simulator`,
// which ships it under `emulator/`. Only that folder is kept: installing the package itself would
// pull a ~300 MB dependency tree the runtime does not need. Idempotent; safe to run offline once
// the folder exists.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = 'amplify-dynamodb-simulator@2.9.30';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = process.env.PORTRAIT_DYNAMODB_LOCAL_DIR ?? join(root, '.vendor', 'dynamodb-local');

if (existsSync(join(target, 'DynamoDBLocal.jar'))) {
  process.exit(0);
}
// The work folder sits beside the target: a rename across file systems (tmpfs /tmp) would fail.
mkdirSync(dirname(target), { recursive: true });
const work = mkdtempSync(join(dirname(target), '.fetch-'));
try {
  console.log(`portrait: fetching DynamoDB Local from ${PACKAGE} (npm pack) ...`);
  const packed = execFileSync('npm', ['pack', PACKAGE, '--silent', '--pack-destination', work], {
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .pop();
  execFileSync('tar', ['-xzf', join(work, packed), '-C', work, 'package/emulator']);
  rmSync(target, { recursive: true, force: true });
  renameSync(join(work, 'package', 'emulator'), target);
  if (!existsSync(join(target, 'DynamoDBLocal.jar'))) {
    throw new Error(`DynamoDBLocal.jar not found in ${PACKAGE}/emulator`);
  }
  console.log(`portrait: DynamoDB Local ready in ${target}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
