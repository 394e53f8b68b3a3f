/**
 * The tray attached to a node it did not start (the node of the Duplex service): the tray model
 * is fed by a `duplex run` process through the admin API's WebSocket, commands go the same
 * way, closing the tray leaves the node and its runtime running, and a restarted node is
 * found again.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { locateDomain } from '../../main/domain/load';
import { NoNodeError } from '../../main/node/admin-client';
import { nodePaths } from '../../main/node/paths';
import { attachToNode, type RemoteApi } from '../../main/ui/remote-api';
import type { StatusView } from '../../main/ui/contract';
import { trayModel, type TrayModel } from '../../main/ui/tray-model';
import { Cluster, waitFor, waitForRoles } from './cluster';

const c = new Cluster(['a', 'b'], { runtime: { processes: [{ name: 'scada', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }] } });
let tray: RemoteApi | null = null;
after(async () => {
  tray?.close();
  await c.stop();
});

test('a tray attached to a service-mode node shows it, commands it, and leaves it running when it quits', { timeout: 120_000 }, async () => {
  c.start('a');
  await waitForRoles(c, { a: 'active' }, 20_000);
  c.start('b');
  await waitForRoles(c, { a: 'active', b: 'standby' }, 20_000);

  const endpointFile = nodePaths(locateDomain(c.file).domain, 'a').admin;
  tray = await attachToNode(endpointFile);
  let model: TrayModel | null = null;
  let last: StatusView | null = null;
  tray.onStatus((s) => {
    last = s;
    model = trayModel(s, { startAtLogon: true, service: true });
  });
  const links: boolean[] = [];
  tray.onLink((up) => links.push(up));

  const active = await waitFor('the tray model shows a as Active', 10_000, async () => (model?.icon === 'active' ? model : undefined));
  assert.equal(active.tooltip, `Duplex · a · Active · ${last!.domain} (service)`);
  assert.equal(active.quitWarning, null, 'quitting the tray stops nothing, so it warns of nothing');
  assert.ok(active.menu.some((m) => m.type === 'normal' && m.id === 'quit' && /service keeps running/.test(m.label)));
  const runtimePid = last!.runtime.processes[0]!.pid;
  assert.ok(runtimePid, 'the service node runs the runtime');

  // Server → Deactivate from the tray goes to the service's node: a hands over to b.
  const r = await tray.command({ kind: 'deactivate' });
  assert.equal(r.ok, true, r.message);
  await waitForRoles(c, { a: 'standby', b: 'active' }, 20_000);
  await waitFor('the tray model shows a as Standby, with Activate enabled', 10_000, async () => {
    const server = model?.menu.find((m) => m.type === 'submenu');
    return model?.icon === 'standby' && server?.type === 'submenu' && server.submenu.some((i) => i.type === 'normal' && i.id === 'activate' && i.enabled) ? true : undefined;
  });
  assert.equal((await tray.command({ kind: 'activate' })).ok, true);
  await waitForRoles(c, { a: 'active', b: 'standby' }, 20_000);

  // A restarted service is found again.
  c.kill('a', 'SIGTERM');
  await c.nodes.get('a')!.exited;
  await waitFor('the tray learns the node is gone', 10_000, async () => (links.includes(false) && !tray!.connected ? true : undefined));
  await assert.rejects(tray.getStatus(), /does not answer/);
  c.start('a');
  await waitFor('the tray attaches to the restarted node', 30_000, async () => (tray!.connected && links.at(-1) === true ? true : undefined));
  const again = await tray.getStatus();
  assert.equal(again.server, 'a');

  // b took over while a was down; Server → Activate brings the runtime back to a.
  await waitForRoles(c, { a: 'standby', b: 'active' }, 20_000);
  assert.equal((await tray.command({ kind: 'activate' })).ok, true);
  // Quitting the tray: the node and its runtime go on.
  await waitFor('a runs its runtime again', 20_000, async () => ((await c.status('a')).runtime.processes[0]?.pid ? true : undefined));
  tray.close();
  tray = null;
  await new Promise((res) => setTimeout(res, 1_500));
  const still = await c.status('a');
  assert.equal(c.nodes.get('a')!.proc.exitCode, null, 'the node still runs');
  assert.ok(still.runtime.processes[0]!.pid, 'and so does its runtime');
});

test('attaching to a node that is not running says so', async () => {
  await assert.rejects(attachToNode(`${c.dir}/nowhere/admin.json`), (e: Error) => e instanceof NoNodeError && /no admin endpoint/.test(e.message));
  // An endpoint left by a node that is gone: nothing listens on its port.
  const stale = join(c.dir, 'stale-admin.json');
  writeFileSync(stale, JSON.stringify({ pid: 1, port: 1, token: 'x' }));
  await assert.rejects(attachToNode(stale), (e: Error) => e instanceof NoNodeError && /cannot reach the Duplex node on 127\.0\.0\.1:1/.test(e.message));
});
