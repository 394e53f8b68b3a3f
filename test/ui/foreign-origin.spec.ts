/**
 * Any web page the operator's browser shows can knock on the admin port: a page of another
 * origin, or a sandboxed iframe on it (its origin is "null"), opening the status window's
 * WebSocket — even with the token in hand — is refused, and the node stays up (issue 21: an
 * Origin: null upgrade used to stop the node).
 */
import { expect, test } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, waitForRoles } from '../integration/cluster';
import { readEndpoint } from '../../main/node/admin-client';
import { nodePaths } from '../../main/node/paths';
import { loadDomain } from '../../main/domain/load';

test.describe.serial('a page of another origin', () => {
  let c: Cluster;
  let foreign: Server;
  let foreignPort = 0;

  test.beforeAll(async () => {
    c = new Cluster(['a']);
    c.startAll();
    await waitForRoles(c, { a: 'active' }, 10_000);
    const { port, token } = readEndpoint(nodePaths(loadDomain(c.file), 'a').admin);
    const open = (who: string) => `
      const ws = new WebSocket('ws://127.0.0.1:${port}/ui/socket?token=${token}');
      ws.onopen = () => report('${who}', 'open');
      ws.onmessage = () => report('${who}', 'got status');
      ws.onclose = (e) => report('${who}', 'closed ' + e.code);`;
    const page = `<!doctype html><title>elsewhere</title>
      <script>
        window.results = {};
        function report(who, what) { window.results[who] = window.results[who] || what; }
        window.addEventListener('message', (e) => report(e.data.who, e.data.what));
        ${open('page')}
      </script>
      <iframe sandbox="allow-scripts" srcdoc="<script>function report(who, what) { parent.postMessage({ who, what }, '*'); }${open('sandboxed iframe').replace(/"/g, '&quot;')}</script>"></iframe>`;
    foreign = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
    await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', r));
    foreignPort = (foreign.address() as AddressInfo).port;
  });
  test.afterAll(async () => {
    await new Promise((r) => foreign?.close(r));
    await c?.stop();
  });

  test("cannot open the status window's socket, even with the token, nor from a sandboxed iframe; the node stays up", async ({ page }) => {
    await page.goto(`http://127.0.0.1:${foreignPort}/`);
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as { results: Record<string, string> }).results), { timeout: 10_000 })
      .toEqual({ page: 'closed 1006', 'sandboxed iframe': 'closed 1006' });
    const status = await c.status('a');
    expect(status.role).toBe('active');
    expect(c.nodes.get('a')!.proc.exitCode).toBeNull();
    await expect.poll(async () => (await c.status('a')).refused.socket?.['403'] ?? 0).toBeGreaterThanOrEqual(2);
    const log = readFileSync(join(c.dir, 'duplex-state', 'a', 'logs', 'duplex.log'), 'utf8');
    expect(log).toMatch(new RegExp(`socket: refused 403 \\(a page of another origin\\): 127\\.0\\.0\\.1 /ui/socket from (http://127\\.0\\.0\\.1:${foreignPort}|null)`));
  });
});
