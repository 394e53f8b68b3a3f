/** No import cycle in main/: every import (type-only and lazy ones included) is followed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { tempDir } from '../fixtures/temp';

const MAIN = join(__dirname, '..', '..', '..', 'main');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function edges(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles
    .map((f) => f.fileName)
    .filter((n) => n.startsWith('.'))
    .map((n) => resolve(dirname(file), n))
    .map((p) => (existsSync(`${p}.ts`) ? `${p}.ts` : join(p, 'index.ts')))
    .filter((p) => existsSync(p));
}

/** Every cycle found by a depth-first walk, as paths relative to main/. */
function cycles(all: string[]): string[][] {
  const graph = new Map(all.map((f) => [f, edges(f)]));
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const walk = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') found.push([...stack.slice(stack.indexOf(g)), g].map((x) => relative(MAIN, x)));
      else if (!state.has(g)) walk(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of all) if (!state.has(f)) walk(f);
  return found;
}

describe('module structure', () => {
  it('main/ has no import cycle', () => {
    const all = files(MAIN);
    assert.ok(all.length > 40, `only ${all.length} files found under ${MAIN}`);
    assert.deepEqual(cycles(all), []);
  });

  it('the cycle check finds a cycle when there is one (type-only imports count)', () => {
    const dir = tempDir('duplex-cycle-');
    try {
      writeFileSync(join(dir, 'a.ts'), "import type { B } from './b';\nexport type A = B;\n");
      writeFileSync(join(dir, 'b.ts'), "import { x } from './c';\nexport type B = number;\nexport const y = x;\n");
      writeFileSync(join(dir, 'c.ts'), "export const x = 1;\nexport const later = () => import('./a');\n");
      assert.equal(cycles([join(dir, 'a.ts'), join(dir, 'b.ts'), join(dir, 'c.ts')]).length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('main/node/node.ts is composition only: at most 300 lines', () => {
    const lines = readFileSync(join(MAIN, 'node', 'node.ts'), 'utf8').split('\n').length;
    assert.ok(lines <= 300, `node.ts has ${lines} lines`);
  });
});
