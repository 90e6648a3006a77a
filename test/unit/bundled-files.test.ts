import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { functions } from '../../infra/declarations/index.ts';
import { bundledFileUrl } from '../../shared/jobs/rfm-job.ts';

const root = join(import.meta.dirname, '..', '..');
let dir: string | undefined;

afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('files a handler reads at run time', () => {
  it('names only files that exist in the repository', () => {
    for (const declaration of Object.values(functions)) {
      for (const file of declaration.bundledFiles ?? []) {
        expect(existsSync(join(root, file)), `${declaration.id}: ${file}`).toBe(true);
      }
    }
  });

  it('finds a file beside the sources, else at its repository path beside the bundle', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portrait-bundle-'));
    const bundle = pathToFileURL(join(dir, 'index.mjs')).href;
    // No copy yet: the source location is answered (and reading it fails loudly).
    expect(bundledFileUrl('shared/sql/rfm.sql', '../sql/rfm.sql', bundle).href).toBe(
      new URL('../sql/rfm.sql', bundle).href,
    );
    await mkdir(join(dir, 'shared', 'sql'), { recursive: true });
    await writeFile(join(dir, 'shared', 'sql', 'rfm.sql'), 'SELECT 1');
    expect(bundledFileUrl('shared/sql/rfm.sql', '../sql/rfm.sql', bundle).href).toBe(
      pathToFileURL(join(dir, 'shared', 'sql', 'rfm.sql')).href,
    );
    // From the sources, the repository's own file wins.
    const source = pathToFileURL(join(root, 'shared', 'jobs', 'rfm-job.ts')).href;
    expect(bundledFileUrl('shared/sql/rfm.sql', '../sql/rfm.sql', source).href).toBe(
      pathToFileURL(join(root, 'shared', 'sql', 'rfm.sql')).href,
    );
  });

  it('copies the RFM statement into the bundle of the function that renders it', () => {
    expect(functions['nightly-run'].bundledFiles).toContain('shared/sql/rfm.sql');
  });
});
