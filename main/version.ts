import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Duplex's own version, from package.json (compiled code lives in out/main/). */
export const VERSION: string = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
