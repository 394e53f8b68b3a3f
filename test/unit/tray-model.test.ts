/** The tray's icon, tooltip, menu and quit warning for every role and fault. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { notices, trayModel, type MenuItem } from '../../main/ui/tray-model';
import type { StatusView } from '../../main/ui/contract';
import { view } from './status-fixture';

const item = (menu: MenuItem[], id: string): MenuItem => {
  for (const m of menu) {
    if (m.type === 'submenu') {
      const found = m.submenu.find((x) => x.type !== 'separator' && x.type !== 'submenu' && x.id === id);
      if (found) return found;
    } else if (m.type !== 'separator' && m.id === id) {
      return m;
    }
  }
  throw new Error(`no menu item ${id}`);
};
const enabled = (m: MenuItem) => (m.type === 'normal' || m.type === 'checkbox' ? m.enabled : false);

describe('tray model', () => {
  it('an icon per role, the tooltip names server, role and domain', () => {
    const cases: [StatusView['role'], string][] = [['active', 'active'], ['standby', 'standby'], ['inactive', 'inactive'], ['maintenance', 'maintenance'], ['starting', 'inactive'], ['activating', 'standby'], ['deactivating', 'active']];
    for (const [role, icon] of cases) {
      const m = trayModel(view({ role }, role === 'active' || role === 'deactivating' ? { b: 'standby' } : { b: 'active', c: 'standby' }), { startAtLogon: true });
      assert.equal(m.icon, icon, role);
    }
    assert.equal(trayModel(view({ server: 'srv1', role: 'standby' }, { b: 'active' }), { startAtLogon: true }).tooltip, 'Duplex · srv1 · Standby · plant');
    const vip = { address: '10.20.0.100/24', card: 'eth0', held: true, error: null };
    assert.equal(trayModel(view({ vip }), { startAtLogon: true }).tooltip, 'Duplex · a · Active · holds 10.20.0.100/24 · plant');
    const failed = trayModel(view({ vip: { ...vip, held: false, error: 'ip address add 10.20.0.100/24 dev eth0 label eth0:dx failed: RTNETLINK answers: Operation not permitted' } }), { startAtLogon: true });
    assert.equal(failed.icon, 'trouble');
    assert.equal(failed.trouble, 'Virtual IP problem (a: ip address add 10.20.0.100/24 dev eth0 label eth0:dx failed: RTNETLINK answers: Operation not permitted)');
  });

  it('trouble: the headline of the status window, for no Standby (seen from any server), no Active, sync conflict or error, incompatible, held runtime, card down, no quorum', () => {
    const cases: [Partial<StatusView>, Record<string, string>, RegExp][] = [
      [{}, { b: 'unreachable' }, /^Plant not protected: no Standby \(if a fails, nothing takes over; not heard: b\)$/],
      [{ role: 'inactive' }, { b: 'active', c: 'unreachable' }, /^Plant not protected: no Standby \(if b fails, nothing takes over; not heard: c\)$/],
      [{ role: 'standby' }, { b: 'unreachable' }, /^Plant runtime not running: no Active server \(no server is Active; not heard: b; a should take over\)$/],
      [{ role: 'standby', sync: { ...view().sync, state: 'conflict' } }, { b: 'active' }, /^Sync conflict/],
      [{ role: 'standby', sync: { ...view().sync, state: 'error', message: 'cannot write /plant' } }, { b: 'active' }, /^Domain file problem \(cannot write \/plant\)$/],
      [{ role: 'inactive', incompatible: 'Duplex 0.2.0 here, 0.1.0 on the Active b' }, { b: 'active' }, /^Incompatible with the Active \(a: Duplex 0\.2\.0/],
      [{ runtime: { ...view().runtime, held: 'took over after a failover' } }, { b: 'standby' }, /^Runtime held: Resume \(took over after a failover; check the plant, then Resume\)$/],
      [{ role: 'standby', linkUp: false }, { b: 'active' }, /^Redundancy network card down/],
      [{ role: 'standby', faults: ['cannot verify 192.168.10.12: is the secret file the same on every server?'] }, { b: 'active' }, /^Cannot verify 192\.168\.10\.12 \(is the secret file the same on every server\?\)$/],
      [{ faults: ['another Duplex node also runs as server a at 10.0.0.7 (a cloned machine or a copied tray.json?); give every server its own name'] }, { b: 'standby' }, /^Another Duplex node also runs as server a at 10\.0\.0\.7 .*\(give every server its own name\)$/],
      [{ role: 'standby', quorum: { ...view().quorum, heard: ['a'], has: false } }, { b: 'unreachable' }, /^No quorum \(a hears 1 of 3 voters \(2 needed\); it will not take over\)$/],
    ];
    for (const [over, peers, why] of cases) {
      const m = trayModel(view(over, peers), { startAtLogon: true });
      assert.equal(m.icon, 'trouble', JSON.stringify(over));
      assert.match(m.trouble!, why);
    }
    const healthy = trayModel(view(), { startAtLogon: true });
    assert.equal(healthy.icon, 'active');
    assert.equal(healthy.trouble, null);
  });

  it('Server → Activate on Standby or Inactive, Deactivate on the Active; none while switching or incompatible', () => {
    const standby = trayModel(view({ role: 'standby' }, { b: 'active' }), { startAtLogon: true }).menu;
    assert.equal(enabled(item(standby, 'activate')), true);
    assert.equal(enabled(item(standby, 'deactivate')), false);
    const inactive = trayModel(view({ role: 'inactive' }, { b: 'active' }), { startAtLogon: true }).menu;
    assert.equal(enabled(item(inactive, 'activate')), true);
    const active = trayModel(view(), { startAtLogon: true }).menu;
    assert.equal(enabled(item(active, 'activate')), false);
    assert.equal(enabled(item(active, 'deactivate')), true);
    const switching = trayModel(view({ role: 'activating', pending: 'waiting for b to hand over' }, { b: 'deactivating' }), { startAtLogon: true }).menu;
    assert.equal(enabled(item(switching, 'activate')), false);
    const incompatible = trayModel(view({ role: 'inactive', incompatible: 'versions' }, { b: 'active' }), { startAtLogon: true }).menu;
    assert.equal(enabled(item(incompatible, 'activate')), false);
  });

  it('checkboxes follow maintenance and start-at-logon; Resume only when held', () => {
    const m = trayModel(view({ role: 'maintenance' }, { b: 'active' }), { startAtLogon: false }).menu;
    assert.deepEqual(item(m, 'maintenance'), { type: 'checkbox', id: 'maintenance', label: 'Maintenance', enabled: true, checked: true });
    assert.equal((item(m, 'login-item') as { checked: boolean }).checked, false);
    assert.throws(() => item(m, 'resume'));
    const held = trayModel(view({ runtime: { ...view().runtime, held: 'failover' } }), { startAtLogon: true }).menu;
    assert.equal(enabled(item(held, 'resume')), true);
    for (const id of ['open-status', 'open-logs', 'quit']) assert.equal(enabled(item(m, id)), true);
  });

  it('Quit on the Active warns and offers the switchover; elsewhere it does not', () => {
    assert.match(trayModel(view(), { startAtLogon: true }).quitWarning!, /a is the Active server\. Quitting stops Duplex and the plant runtime here\. Switch over to b first\?/);
    assert.match(trayModel(view({}, { b: 'unreachable' }), { startAtLogon: true }).quitWarning!, /No Standby is ready to take over/);
    assert.equal(trayModel(view({ role: 'standby' }, { b: 'active' }), { startAtLogon: true }).quitWarning, null);
  });

  it('notifies role changes (not the transitional ones) and faults as they appear, once', () => {
    const standby = view({ role: 'standby', reason: 'ready' }, { b: 'active' });
    const active = view({ role: 'active', reason: 'failover: no heartbeat from the Active for 800 ms' }, { b: 'standby' });
    assert.deepEqual(notices(standby, active), [{ title: 'Duplex: a is Active', body: 'failover: no heartbeat from the Active for 800 ms' }]);
    assert.deepEqual(notices(standby, view({ role: 'activating' }, { b: 'active' })), [], 'no notice for a transitional role');
    assert.deepEqual(notices(null, active), [], 'nothing at start');
    const alone = view({}, { b: 'unreachable' });
    assert.deepEqual(notices(active, alone), [{ title: 'Duplex: attention on a', body: 'Plant not protected: no Standby (if a fails, nothing takes over; not heard: b)' }]);
    assert.deepEqual(notices(alone, alone), [], 'the same fault is told once');
  });
});
