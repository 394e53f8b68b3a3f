/** What the doors refuse: counted by door and code, logged at a rate limit, what came from outside cut short. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clientErrorStatus, quote, Refusals } from '../../main/node/doors';
import { oneLine, type Logger } from '../../main/util/logger';

function rig() {
  let now = 0;
  const lines: string[] = [];
  const log: Logger = { info: () => undefined, warn: (event, detail) => lines.push(`${event}: ${detail}`), error: () => undefined, file: null };
  return { r: new Refusals(log, () => now), lines, at: (ms: number) => (now = ms) };
}

describe('refusals at the doors', () => {
  it('counts every refusal, logs the first of a door and code at once, then one line a minute with how many came since', () => {
    const { r, lines, at } = rig();
    for (let i = 0; i < 5; i++) r.count('admin', 401, 'missing or wrong admin token', 'GET /status');
    r.count('socket', 403, 'a page of another origin', '127.0.0.1 /ui/socket from null');
    assert.deepEqual(r.totals(), { admin: { 401: 5 }, socket: { 403: 1 } });
    assert.deepEqual(lines, [
      'admin: refused 401 (missing or wrong admin token): GET /status; at most one such line a minute',
      'socket: refused 403 (a page of another origin): 127.0.0.1 /ui/socket from null; at most one such line a minute',
    ]);
    at(30_000);
    r.count('admin', 401, 'missing or wrong admin token', 'GET /domain');
    assert.equal(lines.length, 2, 'not again within the minute');
    at(61_000);
    r.count('admin', 401, 'missing or wrong admin token', 'POST /command');
    assert.equal(lines.at(-1), 'admin: refused 401 (missing or wrong admin token): POST /command (and 5 more since 61 s ago); at most one such line a minute');
    assert.equal(r.totals().admin!['401'], 7);
  });

  it('at most 20 lines a minute over every door and code, however many codes a flood brings', () => {
    const { r, lines, at } = rig();
    for (let i = 0; i < 50; i++) r.count('sync', `code-${i}`, 'a test', 'x');
    assert.equal(lines.length, 20);
    at(60_000);
    r.count('sync', 'code-49', 'a test', 'x');
    assert.match(lines.at(-1)!, /\(30 similar lines left out before this one\); at most one such line a minute$/);
    assert.equal(Object.keys(r.totals().sync!).length, 50, 'every one counted');
  });

  it('what came from outside is cut short, and made one line by the logger', () => {
    assert.equal(quote('x'.repeat(500)), `${'x'.repeat(120)}… (500 characters)`);
    assert.equal(oneLine('a\nb\r\u001b[2J\u202ec\\d'), 'a\\nb\\r\\u001b[2J\\u202ec\\d');
    assert.deepEqual(clientErrorStatus('HPE_HEADER_OVERFLOW'), [431, 'Request Header Fields Too Large']);
    assert.deepEqual(clientErrorStatus('ERR_HTTP_REQUEST_TIMEOUT'), [408, 'Request Timeout']);
    assert.deepEqual(clientErrorStatus('HPE_INVALID_METHOD'), [400, 'Bad Request']);
  });
});
