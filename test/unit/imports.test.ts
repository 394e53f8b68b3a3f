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

/** Every import of `file` that leaves `dir` (a relative path out of it, or any package or node: module). */
function outside(file: string, dir: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles
    .map((f) => f.fileName)
    .filter((n) => !n.startsWith('.') || !resolve(dirname(file), n).startsWith(dir + '/'));
}

/** What breaks the engine's rules: an import from outside main/engine/, a file above 450 lines, engine.ts above 600. */
function engineProblems(dir: string): string[] {
  return files(dir).flatMap((f) => {
    const name = relative(dir, f);
    const lines = readFileSync(f, 'utf8').split('\n').length;
    const limit = name === 'engine.ts' ? 600 : 450;
    return [
      ...outside(f, dir).map((n) => `${name} imports ${n}, outside main/engine/`),
      ...(lines > limit ? [`${name} has ${lines} lines (at most ${limit})`] : []),
    ];
  });
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

  it('the engine is pure and in parts: nothing in main/engine/ imports outside it, no file above 450 lines, engine.ts at most 600', () => {
    assert.deepEqual(engineProblems(join(MAIN, 'engine')), []);
  });

  it('the engine check finds an import from outside the folder and a file too long', () => {
    const dir = tempDir('duplex-engine-');
    try {
      writeFileSync(join(dir, 'a.ts'), "import { b } from './b';\nimport type { X } from '../ui/contract';\nimport { readFileSync } from 'node:fs';\nexport const a = b;\n");
      writeFileSync(join(dir, 'b.ts'), 'export const b = 1;\n'.repeat(451));
      assert.deepEqual(engineProblems(dir).sort(), ['a.ts imports ../ui/contract, outside main/engine/', 'a.ts imports node:fs, outside main/engine/', 'b.ts has 452 lines (at most 450)']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the adapters (net/, runtime/, guardian/) depend on the ports, not on the node\'s driver', () => {
    const driver = join(MAIN, 'node', 'driver.ts');
    const offenders = ['net', 'runtime', 'guardian'].flatMap((d) => files(join(MAIN, d))).filter((f) => edges(f).includes(driver));
    assert.deepEqual(offenders.map((f) => relative(MAIN, f)), []);
  });
});
