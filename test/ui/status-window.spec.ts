/**
 * The status window in a real browser against a real three-server domain on loopback,
 * through the admin API's WebSocket (the same contract Electron serves over IPC). The runtime
 * waits for Resume after a failover (confirmResume), so the held-runtime banner can be seen.
 */
import { expect, test, type Page } from '@playwright/test';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, runCli, waitFor, waitForRoles } from '../integration/cluster';
import { readEndpoint } from '../../main/node/admin-client';
import { nodePaths } from '../../main/node/paths';
import { loadDomain } from '../../main/domain/load';
import type { StatusView } from '../../main/ui/contract';
import { DEFAULT_TIMINGS } from '../../main/defaults';

test.describe.serial('status window', () => {
  let c: Cluster;
  const endpoint = (server: string) => readEndpoint(nodePaths(loadDomain(c.file), server).admin);
  /** The page's fixed address, and the token once (as the demo hands it out); the page keeps it for the tab. */
  const open = async (page: Page, server: string) => {
    const ep = endpoint(server);
    await page.goto(`http://127.0.0.1:${ep.port}/#token=${ep.token}`);
  };
  const role = (page: Page, server: string) => page.locator(`#servers tr[data-server="${server}"] td.role`);
  const cliRole = async (server: string) => (JSON.parse((await runCli(['status', '--json', '--domain', c.file, '--server', server])).stdout) as StatusView).role;
  const button = (page: Page, name: string) => page.getByRole('button', { name, exact: true });

  test.beforeAll(async () => {
    c = new Cluster(['a', 'b', 'c'], {
      fixedAdminPorts: true,
      extra: 'probes:\n  - name: host\n    kind: system\n    maxMemoryPercent: 100\n',
      runtime: { confirmResume: true, processes: [{ name: 'scada', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }] },
    });
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
  });
  test.afterAll(async () => {
    await c.stop();
  });

  test('shows the servers, a headline, each runtime and probe, at a fixed address without the token in it', async ({ page }, info) => {
    await open(page, 'b');
    // The address is the server's fixed admin port; the token left the address at once.
    expect(new URL(page.url()).port).toBe(String(c.adminPorts.b));
    await expect.poll(() => page.url()).not.toContain('token');
    await expect(page.locator('#servers tbody tr')).toHaveCount(3);
    await expect(role(page, 'a')).toHaveText('Active');
    await expect(role(page, 'b')).toHaveText('Standby');
    await expect(role(page, 'c')).toHaveText('Inactive');
    await expect(page.locator('#banner')).toHaveClass('level-ok');
    await expect(page.locator('#banner-title')).toHaveText('Plant protected');
    await expect(page.locator('#banner-detail')).toHaveText('a is Active, b is Standby');
    // Every server's runtime, from its heartbeats; health in words and a number.
    await expect(page.locator('tr[data-server="a"] td.runtime')).toHaveText('running (active)');
    await expect(page.locator('tr[data-server="c"] td.runtime')).toHaveText('stopped');
    await expect(page.locator('tr[data-server="a"] td.health')).toHaveText('healthy 255');
    // Every server's probes with their verdicts: in the table from heartbeats, in full from each server's own status.
    await expect(page.locator('#servers tr[data-server="a"] td.probes')).toHaveText('host ok');
    await expect(page.locator('#probes tbody tr')).toHaveCount(3);
    await expect(page.locator('#probes tr[data-server="c"] td.detail')).not.toHaveText('—');
    await expect(page.locator('#title')).toHaveText(/Duplex · domain plant · revision 0/);
    await expect(page.locator('#timeline li').first()).toContainText(/^\d\d:\d\d:\d\d: starting → standby/);
    await expect(page.locator('#quorum')).toHaveText(/^Quorum: yes — hears 3 of 3 voters \(a, b, c; 2 needed\), supports a \(term \d+, acknowledged\)$/);
    // A reload keeps the token for the tab: no sign-in again.
    await page.reload();
    await expect(role(page, 'a')).toHaveText('Active');
    await expect(page.locator('#login')).toBeHidden();
    const shot = info.outputPath('status-window.png');
    await page.screenshot({ path: shot, fullPage: true });
    if (process.env.UPDATE_README_SCREENSHOT) copyFileSync(shot, join(__dirname, '..', '..', '..', 'resources', 'status-window.png'));
  });

  test('buttons are enabled only when the command can be carried out; a disabled one says why, in the engine\'s words', async ({ page }) => {
    await open(page, 'c');
    await expect(role(page, 'c')).toHaveText('Inactive');
    const own = (await c.status('c')).commands;
    await expect(button(page, 'Activate')).toBeDisabled();
    await expect(button(page, 'Activate')).toHaveAttribute('title', own.activate!);
    expect(own.activate).toMatch(/c is declared "inactive" in the domain file; only the main and backup servers can be Active/);
    await expect(button(page, 'Deactivate')).toBeDisabled();
    await expect(button(page, 'Deactivate')).toHaveAttribute('title', 'only the Active can be deactivated; c is inactive');
    await expect(button(page, 'Maintenance on')).toBeEnabled();
    await expect(button(page, 'Maintenance off')).toHaveAttribute('title', 'c is not in Maintenance');
    await expect(page.locator('#reasons')).toContainText('Activate: c is declared "inactive"');
    // Nothing held, nothing counted: no Resume, no Clear failures.
    await expect(button(page, 'Resume runtime')).toBeHidden();
    await expect(button(page, 'Clear failures')).toBeHidden();
    // For the Active a, chosen from c's page: Deactivate can be done, Activate is done already.
    await page.getByLabel('Server', { exact: true }).selectOption('a');
    await expect(button(page, 'Deactivate')).toBeEnabled();
    await expect(button(page, 'Activate')).toHaveAttribute('title', /^a is already Active \(epoch \d+\)$/);
  });

  test('Activate on the Standby, confirmed with the keyboard, swaps the roles', async ({ page }) => {
    await open(page, 'b');
    await expect(role(page, 'b')).toHaveText('Standby');
    await expect(button(page, 'Activate')).toBeEnabled();
    await button(page, 'Activate').focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await expect(dialog).toBeVisible();
    await expect(dialog).toContainText('a will stop its runtime and hand over; then b starts the runtime as the Active server');
    await page.keyboard.press('Escape');
    await expect(dialog).toBeHidden();
    expect(await cliRole('b')).toBe('standby'); // cancelled: nothing happened
    await button(page, 'Activate').click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await waitFor('b Active and a Standby (duplex status --json)', 10_000, async () =>
      ((await cliRole('b')) === 'active' && (await cliRole('a')) === 'standby' ? true : undefined), 100);
    await expect(role(page, 'b')).toHaveText('Active');
    await expect(role(page, 'a')).toHaveText('Standby');
    await expect(page.locator('#error')).toBeHidden();
  });

  test('Activate of another server from a page: relayed by this server\'s node', async ({ page }) => {
    await open(page, 'c');
    await page.getByLabel('Server', { exact: true }).selectOption('a');
    await expect(button(page, 'Activate')).toBeEnabled();
    await button(page, 'Activate').click();
    await expect(page.getByRole('dialog')).toContainText('(sent through c\'s node to a\'s)');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await waitFor('a Active and b Standby', 10_000, async () => ((await cliRole('a')) === 'active' && (await cliRole('b')) === 'standby' ? true : undefined), 100);
    await expect(role(page, 'a')).toHaveText('Active');
    await expect(page.locator('#error')).toBeHidden();
  });

  test('a lost connection greys the page out and says since when; it reconnects once the node is back', async ({ page }) => {
    await open(page, 'b');
    await expect(role(page, 'b')).toHaveText('Standby');
    c.kill('b', 'SIGKILL');
    await c.nodes.get('b')!.exited;
    await expect(page.locator('#banner-title')).toHaveText(/^Connection lost \d+ s ago$/, { timeout: 5_000 });
    await expect(page.locator('main')).toHaveClass(/stale/);
    // The figures stay, greyed: the last known state, not an empty page.
    await expect(page.locator('#servers tbody tr')).toHaveCount(3);
    c.start('b');
    await expect(page.locator('main')).not.toHaveClass(/stale/, { timeout: 15_000 });
    await expect(role(page, 'b')).toHaveText('Standby', { timeout: 10_000 });
    await expect(page.locator('#banner-title')).toHaveText('Plant protected');
  });

  test('after a failover the held runtime is the headline, and Resume starts it', async ({ page }) => {
    await open(page, 'b');
    await expect(role(page, 'a')).toHaveText('Active');
    const t0 = Date.now();
    c.kill('a', 'SIGKILL');
    // Failover within the failure timeout, plus at most one status push (1 s).
    const bound = DEFAULT_TIMINGS.failureTimeoutMs + 1_000 + 500;
    await expect(role(page, 'b')).toHaveText('Active', { timeout: bound });
    expect(Date.now() - t0).toBeLessThan(bound);
    await expect(page.locator('#banner')).toHaveClass('level-alarm');
    await expect(page.locator('#banner-title')).toHaveText('Runtime held: Resume');
    await expect(button(page, 'Resume runtime')).toBeVisible();
    await button(page, 'Resume runtime').click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expect(page.locator('tr[data-server="b"] td.runtime')).toHaveText(/scada running \(active\)/, { timeout: 10_000 });
    await expect(role(page, 'a')).toHaveText('Unreachable');
  });

  test('with b Active, a unreachable and c Inactive the plant is not protected, and the page of c says so', async ({ page }) => {
    await open(page, 'c');
    await expect(role(page, 'b')).toHaveText('Active');
    await expect(role(page, 'a')).toHaveText('Unreachable');
    await expect(page.locator('#banner')).toHaveClass('level-warning');
    await expect(page.locator('#banner-title')).toHaveText('Plant not protected: no Standby');
    await expect(page.locator('#banner-detail')).toHaveText('if b fails, nothing takes over; not heard: a');
  });

  test('without a token the page asks for it; a wrong one is refused and nothing is shown', async ({ page }) => {
    const ep = endpoint('c');
    await page.goto(`http://127.0.0.1:${ep.port}/`);
    await expect(page.locator('#login')).toBeVisible();
    await expect(page.locator('#servers tbody tr')).toHaveCount(0);
    await page.getByLabel('Admin token of this server\'s node').fill('0'.repeat(64));
    await page.getByRole('button', { name: 'Connect' }).click();
    await expect(page.locator('#banner-detail')).toHaveText(/that token was refused/);
    await expect(page.locator('#servers tbody tr')).toHaveCount(0);
    await page.getByLabel('Admin token of this server\'s node').fill(ep.token);
    await page.getByRole('button', { name: 'Connect' }).click();
    await expect(role(page, 'c')).toHaveText('Inactive');
  });
});
