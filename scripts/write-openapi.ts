/** `npm run openapi`: writes the API document to docs/openapi.json (the same one the API serves). */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { openApiDocument } from '../shared/http/openapi.ts';

const target = resolve(import.meta.dirname, '..', 'docs', 'openapi.json');
writeFileSync(target, `${JSON.stringify(openApiDocument(), null, 2)}\n`);
console.log(`wrote ${target}`);
