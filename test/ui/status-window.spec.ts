/**
 * The status window in a real browser against a real three-server domain on loopback,
 * through the admin API's WebSocket (the same contract Electron serves over IPC).
 */
import { expect, test } from '@playwright/test';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, runCli, waitFor, waitForRoles } from '../integration/cluster';
import { pageUrl, readEndpoint } from '../../main/node/admin-client';
import { nodePaths } from '../../main/node/paths';
import { loadDomain } from '../../main/domain/load';
import type { StatusView } from '../../main/ui/contract';
import { DEFAULT_TIMINGS } from '../../main/defaults';

test.describe.serial('status window', () => {
  let c: Cluster;
  const url = (server: string) => pageUrl(readEndpoint(nodePaths(loadDomain(c.file), server).admin));
  const role = (page: import('@playwright/test').Page, server: string) => page.locator(`tr[data-server="${server}"] td.role`);
  const cliRole = async (server: string) => (JSON.parse((await runCli(['status', '--json', '--domain', c.file, '--server', server])).stdout) as StatusView).role;

  test.beforeAll(async () => {
    c = new Cluster(['a', 'b', 'c']);
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
  });
  test.afterAll(async () => {
    await c.stop();
  });

  test('shows the three servers with their roles, the domain and the timeline', async ({ page }, info) => {
    await page.goto(url('b'));
    await expect(page.locator('#servers tbody tr')).toHaveCount(3);
    await expect(role(page, 'a')).toHaveText('Active');
    await expect(role(page, 'b')).toHaveText('Standby');
    await expect(role(page, 'c')).toHaveText('Inactive');
    await expect(page.locator('#title')).toHaveText(/Duplex · domain plant · revision 0/);
    await expect(page.locator('tr[data-server="a"] td.address')).toHaveText('127.0.0.1');
    await expect(page.locator('#timeline li').first()).toContainText('starting → standby');
    // Three voters: quorum, and whom b supports.
    await expect(page.locator('#quorum')).toHaveText(/^Quorum: yes — hears 3 of 3 voters \(a, b, c; 2 needed\), supports a \(term \d+, acknowledged\)$/);
    await expect(page.getByRole('button', { name: 'Activate this server', exact: true })).toBeEnabled();
    await expect(page.getByRole('button', { name: 'Deactivate this server' })).toBeDisabled();
    const shot = info.outputPath('status-window.png');
    await page.screenshot({ path: shot, fullPage: true });
    if (process.env.UPDATE_README_SCREENSHOT) copyFileSync(shot, join(__dirname, '..', '..', '..', 'resources', 'status-window.png'));
  });

  test('Activate on the Standby, confirmed with the keyboard, swaps the roles', async ({ page }) => {
    await page.goto(url('b'));
    await expect(role(page, 'b')).toHaveText('Standby');
    await page.getByRole('button', { name: 'Activate this server', exact: true }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await expect(dialog).toBeVisible();
    await expect(dialog).toContainText('a will stop its runtime and hand over; then b starts the runtime as the Active server');
    await page.keyboard.press('Escape');
    await expect(dialog).toBeHidden();
    expect(await cliRole('b')).toBe('standby'); // cancelled: nothing happened
    await page.getByRole('button', { name: 'Activate this server', exact: true }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await waitFor('b Active and a Standby (duplex status --json)', 10_000, async () =>
      ((await cliRole('b')) === 'active' && (await cliRole('a')) === 'standby' ? true : undefined), 100);
    await expect(role(page, 'b')).toHaveText('Active');
    await expect(role(page, 'a')).toHaveText('Standby');
    await expect(page.locator('#error')).toBeHidden();
  });

  test('a refused command is said in plain words', async ({ page }) => {
    await page.goto(url('c'));
    await expect(role(page, 'c')).toHaveText('Inactive');
    await page.getByRole('button', { name: 'Activate this server', exact: true }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expect(page.getByRole('alert')).toHaveText(/Refused: c is declared "inactive" in the domain file; only the main and backup servers can be Active/);
  });

  test('SIGKILL of the Active shows on the page within the failover bound', async ({ page }) => {
    await page.goto(url('a'));
    await expect(role(page, 'b')).toHaveText('Active');
    const t0 = Date.now();
    c.kill('b', 'SIGKILL');
    // Failover within the failure timeout, plus at most one status push (1 s).
    const bound = DEFAULT_TIMINGS.failureTimeoutMs + 1_000 + 500;
    await expect(role(page, 'a')).toHaveText('Active', { timeout: bound });
    expect(Date.now() - t0).toBeLessThan(bound);
    await expect(role(page, 'b')).toHaveText('Unreachable', { timeout: 2_000 });
  });

  test('the page refuses to work without the token', async ({ page }) => {
    const u = url('a').replace(/#token=.*/, '#token=wrong');
    await page.goto(u);
    await expect(page.getByRole('alert')).toContainText(/cannot reach the Duplex node|connection to the Duplex node lost/);
    await expect(page.locator('#servers tbody tr')).toHaveCount(0);
  });
});
