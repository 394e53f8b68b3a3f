/**
 * The status window tells the truth (issue 22, item 8): a server that is not heard never has
 * its runtime shown as running — it is `fenced` once its guardian said it killed it, else
 * `unknown (last heard: running, HH:MM:SS)`; refusals are in the window's words, without the
 * command line's flags; and a headless browser's screenshot shows the servers, not
 * "Connecting…" (the first paint comes from a status snapshot).
 */
import { expect, test, type Page } from '@playwright/test';
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { Cluster, waitForRoles } from '../integration/cluster';
import { readEndpoint } from '../../main/node/admin-client';
import { nodePaths } from '../../main/node/paths';
import { loadDomain } from '../../main/domain/load';
import { DEFAULT_TIMINGS } from '../../main/defaults';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

test.describe.serial('the status window tells the truth', () => {
  let c: Cluster;
  /** The address the demo prints: the page, with the admin token once. */
  const address = (server: string) => {
    const ep = readEndpoint(nodePaths(loadDomain(c.file), server).admin);
    return `http://127.0.0.1:${ep.port}/#token=${ep.token}`;
  };
  const cellOf = (page: Page, server: string, column: string) => page.locator(`#servers tr[data-server="${server}"] td.${column}`);

  /**
   * Reads `server`'s runtime cell every 50 ms for `ms`: what it said, in order. The page is
   * pushed a status at least every second and at once on a change; the window the runtime cell
   * must hold for covers the failure timeout (the server goes from silent to unreachable).
   */
  const watch = async (page: Page, server: string, ms: number) => {
    const seen: string[] = [];
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const text = (await cellOf(page, server, 'runtime').textContent()) ?? '';
      if (seen[seen.length - 1] !== text) seen.push(text);
      await page.waitForTimeout(50);
    }
    return seen;
  };

  test.beforeAll(async () => {
    c = new Cluster(['a', 'b', 'c'], { runtime: { processes: [{ name: 'scada', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }] } });
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
  });
  test.afterAll(async () => {
    await c.stop();
  });

  test('a SIGKILLed server\'s runtime is never shown as running: its guardian fenced it, and the page says so', async ({ page }) => {
    await page.goto(address('b'));
    await expect(cellOf(page, 'a', 'runtime')).toHaveText('running (active)');
    c.kill('a', 'SIGKILL');
    // From the status that shows the takeover on: a's runtime is fenced, then and after a goes unreachable.
    await expect(cellOf(page, 'b', 'role')).toHaveText('Active', { timeout: DEFAULT_TIMINGS.failureTimeoutMs + 3_000 });
    const seen = await watch(page, 'a', DEFAULT_TIMINGS.failureTimeoutMs * 3 + 2_000);
    expect(seen.filter((t) => /^running/.test(t)), `a's runtime cell read: ${JSON.stringify(seen)}`).toEqual([]);
    expect(seen[seen.length - 1]).toBe('fenced');
    await expect(cellOf(page, 'a', 'role')).toHaveText('Unreachable');
    await expect(cellOf(page, 'a', 'runtime')).toHaveText('fenced');
  });

  test('a server gone with its guardian (nobody said what became of its runtime): unknown, with what was last heard and when', async ({ page }) => {
    const a = c.start('a');
    await waitForRoles(c, { a: 'standby', b: 'active', c: 'inactive' }, 15_000).catch((e: Error) => {
      throw new Error(`${e.message}; a's node said:\n${a.output.slice(-20).join('\n')}`);
    });
    await page.goto(address('c'));
    await expect(cellOf(page, 'b', 'runtime')).toHaveText('running (active)');
    const crash = await c.crasher('b');
    crash();
    await expect(cellOf(page, 'a', 'role')).toHaveText('Active', { timeout: DEFAULT_TIMINGS.failureTimeoutMs * 3 + 2_000 });
    await expect(cellOf(page, 'b', 'role')).toHaveText('Unreachable');
    await expect(cellOf(page, 'b', 'runtime')).toHaveText(/^unknown \(last heard: running, \d\d:\d\d:\d\d\)$/);
    const seen = await watch(page, 'b', 2_000);
    expect(seen.filter((t) => /^running/.test(t)), JSON.stringify(seen)).toEqual([]);
  });

  test('a refusal is in the window\'s words: no command-line flags', async ({ page }) => {
    // a is Active with no Standby (b is gone, c is inactive): Maintenance on would stop the plant.
    await page.goto(address('c'));
    await page.getByLabel('Server', { exact: true }).selectOption('a');
    const maintenance = page.getByRole('button', { name: 'Maintenance on', exact: true });
    await expect(maintenance).toBeDisabled();
    expect((await c.status('a')).commands['maintenance-on']).toMatch(/--force/); // the engine's words, for the command line
    await expect(maintenance).toHaveAttribute('title', /^a is the Active and no Standby can take over: Maintenance would stop the plant's runtime\. Bring a Standby up first: the status window does not force it$/);
    await expect(page.locator('#reasons')).not.toContainText('--');
  });

  test('the first paint comes from the status fetched with the token: the servers show before, and without, the WebSocket', async ({ page }) => {
    // The page's socket goes nowhere: it neither opens nor closes.
    await page.routeWebSocket(/\/ui\/socket/, () => undefined);
    await page.goto(address('c'));
    await expect(cellOf(page, 'a', 'role')).toHaveText('Active');
    await expect(cellOf(page, 'c', 'role')).toHaveText('Inactive');
    await expect(page.locator('#banner-title')).not.toHaveText(/Connecting/);
  });

  test('a headless browser\'s screenshot of the address (the command the README gives) shows the servers, not "Connecting…"', async ({}, info) => {
    const url = address('c');
    // Virtual time waits for the page's own requests, the status among them; 1 s of it is well under the 3 s after which the page greys out.
    const args = ['--headless', '--disable-gpu', ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--virtual-time-budget=1000', '--window-size=1400,1000'];
    const run = (extra: string[]) => new Promise<string>((resolve, reject) => {
      execFile(CHROMIUM, [...args, ...extra, url], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    // What the screenshot is taken of: the page as it is when the budget has run out.
    const dom = await run(['--dump-dom']);
    expect(dom).toMatch(/<tr data-server="a"[^>]*>(?:(?!<\/tr>).)*<td class="role role-active">Active<\/td>/s);
    expect(dom).toMatch(/<tr data-server="c"[^>]*>/);
    expect(dom).not.toContain('Connecting to the Duplex node');
    const shot = info.outputPath('headless-screenshot.png');
    await run([`--screenshot=${shot}`]);
    expect(statSync(shot).size).toBeGreaterThan(0);
  });
});
