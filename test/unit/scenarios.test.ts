/**
 * The engine scenarios: every test/scenarios/*.txt, each run by the one runner
 * (test/scenarios/runner.ts, whose top describes the format); and the runner's own checks.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario, runScenarioFile, ScenarioError } from '../scenarios/runner';

// out/test/unit → the repository's root: the .txt files are read where they are written.
const REPO = join(__dirname, '..', '..', '..');
const DIR = join(REPO, 'test', 'scenarios');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort();

describe('scenarios (test/scenarios/*.txt)', () => {
  for (const f of FILES) {
    it(f, () => {
      runScenarioFile(join(DIR, f), `test/scenarios/${f}`);
    });
  }
});

describe('the scenario runner', () => {
  it('every scenario file starts with a comment that says what it shows', () => {
    for (const f of FILES) assert.match(readFileSync(join(DIR, f), 'utf8'), /^# \S/, f);
  });

  const failure = (text: string): ScenarioError => {
    try {
      runScenario(text, 'self-test.txt');
    } catch (e) {
      assert.ok(e instanceof ScenarioError, String(e));
      return e;
    }
    assert.fail('the scenario passed');
  };

  it('a wrong expect fails, naming the file, the line, its text and every server\'s role and epoch', () => {
    const text = '# a wrong expectation\nservers a:main b:backup\n\ntick 1000\nexpect a active, b standby\nexpect b active\n';
    const e = failure(text);
    assert.match(e.message, /^self-test\.txt:6: expect b active\n/);
    assert.match(e.message, /b: role is standby, expected active/);
    assert.match(e.message, /at 1000 ms:\n {4}a {4}active {7}epoch 2 \(max 2\)/);
    assert.match(e.message, /\n {4}b {4}standby {6}epoch 0 \(max 2\)/);
    // The same file with the right expectation passes.
    assert.deepEqual(runScenario(text.replace('expect b active', 'expect b standby'), 'ok.txt'), { lines: 4, now: 1000 });
  });

  it('an unknown verb, a bad word and an unknown field are reported with their line', () => {
    assert.match(failure('servers a:main\ntick 10\nteleport a\n').message, /^self-test\.txt:3: teleport a\n {2}unknown verb "teleport"/);
    assert.match(failure('servers a:main b:backup\nexpect a activ\n').message, /^self-test\.txt:2: .*\n {2}"activ" in an expectation/);
    assert.match(failure('servers a:main b:backup\nexpect a colour=red\n').message, /^self-test\.txt:2: .*\n {2}no field "colour"/);
    assert.match(failure('servers a:main b:sidekick\n').message, /^self-test\.txt:1: .*\n {2}"b:sidekick": write name:kind/);
    assert.match(failure('servers a:main\n').message, /never started/);
  });

  it('a refusal where acceptance was expected, and an effect not seen, fail with what happened', () => {
    const refused = failure('servers a:main b:backup\ncommand b activate\n');
    assert.match(refused.message, /^self-test\.txt:2: command b activate\n {2}expected accepted, got refused: b is still discovering its peers/);
    const unseen = failure('servers a:main b:backup\ntick 1000\nexpect a saw fence\n');
    assert.match(unseen.message, /a: not seen \(expected saw fence\); since the last expect it did:\n[^]*role starting→active/);
  });

  it('two servers Active at once fail the line that let it happen, unless allowed', () => {
    const split = '# two Actives\nservers a:main b:backup\ndomain quorum=off\ntick 1000\ncut a\ntick 2000\n';
    assert.match(failure(split).message, /^self-test\.txt:6: tick 2000\n {2}two servers Active at once at \d+ ms: a \(epoch 2\) and b \(epoch \d+\)/);
    runScenario(split.replace('cut a', 'allow two-active\ncut a'), 'allowed.txt');
  });
});
