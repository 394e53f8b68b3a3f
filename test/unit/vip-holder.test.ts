/** The VIP holder with a fake machine: what it runs to add, announce and remove the address, and what it says when a command fails. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VipHolder, type VipPlan } from '../../main/vip/holder';
import type { Argv, Vip } from '../../main/vip/plan';

const PLAN: VipPlan = { vip: { address: '10.20.0.100', prefix: 24 }, card: 'eth0' };

/**
 * A machine whose VIP is on `on` (null: nowhere), failing as iproute2 does (an address already
 * there, or not there); `fail`: a command that fails besides, and how. `asked` counts the
 * questions of where the VIP is.
 */
function machine(on: string | null = null, fail: { cmd: string; why: string } | null = null) {
  const ran: string[] = [];
  const m = {
    on,
    ran,
    asked: 0,
    run: async (argv: Argv) => {
      const line = argv.join(' ');
      ran.push(line);
      if (fail && line.startsWith(fail.cmd)) return `${line} failed: ${fail.why}`;
      if (argv[0] === 'ip' && argv[2] === 'add') {
        if (m.on !== null) return `${line} failed: RTNETLINK answers: File exists`;
        m.on = argv[5]!;
      }
      if (argv[0] === 'ip' && argv[2] === 'del') {
        if (m.on !== argv[5]) return `${line} failed: RTNETLINK answers: Cannot assign requested address`;
        m.on = null;
      }
      return null;
    },
    where: async (_vip: Vip) => {
      m.asked += 1;
      return m.on;
    },
  };
  return m;
}

describe('virtual IP holder', () => {
  it('adds and announces the VIP, then removes it', async () => {
    const m = machine();
    const h = new VipHolder(m.run, m.where, 'linux');
    await h.configure(PLAN);
    assert.deepEqual(await h.add(), { ok: true, message: 'added 10.20.0.100/24 on eth0, announcing it' });
    await h.announcing;
    assert.equal(h.held, true);
    assert.deepEqual(await h.remove(), { ok: true, message: 'removed 10.20.0.100/24 from eth0' });
    assert.equal(h.held, false);
    assert.deepEqual(m.ran, ['ip address add 10.20.0.100/24 dev eth0 label eth0:dx', 'arping -q -U -c 2 -w 2 -I eth0 10.20.0.100', 'ip address del 10.20.0.100/24 dev eth0']);
  });

  it('a VIP already on the card is announced again, not added twice; one left by an earlier run is removed', async () => {
    const m = machine('eth0');
    const h = new VipHolder(m.run, m.where, 'linux');
    await h.configure(PLAN);
    assert.equal((await h.add()).ok, true);
    await h.announcing;
    assert.deepEqual(m.ran, ['ip address add 10.20.0.100/24 dev eth0 label eth0:dx', 'arping -q -U -c 2 -w 2 -I eth0 10.20.0.100']);
    assert.equal(h.held, true);
    const left = machine('eth1');
    const fresh = new VipHolder(left.run, left.where, 'linux');
    await fresh.configure(PLAN);
    assert.equal((await fresh.remove()).message, 'removed 10.20.0.100/24 from eth1');
    assert.deepEqual(left.ran, ['ip address del 10.20.0.100/24 dev eth1']);
  });

  it('adding and removing its own VIP asks nothing of the machine (a failover waits for them); a VIP moved by hand is found and removed', async () => {
    const m = machine();
    const h = new VipHolder(m.run, m.where, 'linux');
    await h.configure(PLAN);
    await h.add();
    assert.equal((await h.remove()).message, 'removed 10.20.0.100/24 from eth0');
    assert.equal(m.asked, 0);
    await h.add();
    m.on = 'eth1'; // someone moved it
    assert.equal((await h.remove()).message, 'removed 10.20.0.100/24 from eth1');
    assert.equal(m.on, null);
    assert.equal(h.held, false);
  });

  it('a removal asked for while an add is still running waits for it, then removes the VIP: it is never left behind a fence', async () => {
    const m = machine();
    let finishAdd = () => undefined as void;
    const slow = async (argv: Argv) => {
      if (argv[2] === 'add') await new Promise<void>((r) => (finishAdd = r));
      return m.run(argv);
    };
    const h = new VipHolder(slow, m.where, 'linux');
    await h.configure(PLAN);
    const adding = h.add();
    const removing = h.remove();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(m.ran, [], 'the removal did not run beside the add');
    finishAdd();
    assert.equal((await adding).ok, true);
    assert.equal((await removing).message, 'removed 10.20.0.100/24 from eth0');
    assert.equal(m.on, null);
    assert.equal(h.held, false);
  });

  it('a new plan whose removal of the old VIP fails keeps the old plan, so that a fence still removes the old VIP', async () => {
    const m = machine();
    let denied = true;
    const h = new VipHolder(async (argv) => (denied && argv[2] === 'del' ? `${argv.join(' ')} failed: RTNETLINK answers: Operation not permitted` : m.run(argv)), m.where, 'linux');
    await h.configure(PLAN);
    await h.add();
    assert.equal((await h.configure(null))?.ok, false);
    denied = false;
    assert.equal((await h.remove()).message, 'removed 10.20.0.100/24 from eth0');
    assert.equal(m.on, null);
  });

  it('a removal that fails leaves it held and says which command failed and why', async () => {
    const m = machine(null, { cmd: 'ip address del', why: 'RTNETLINK answers: Operation not permitted' });
    const h = new VipHolder(m.run, m.where, 'linux');
    await h.configure(PLAN);
    await h.add();
    assert.deepEqual(await h.remove(), { ok: false, message: 'ip address del 10.20.0.100/24 dev eth0 failed: RTNETLINK answers: Operation not permitted' });
    assert.equal(m.on, 'eth0');
    assert.equal(h.held, true);
  });

  it('a failure names the command and why; a failed announcement still holds the VIP', async () => {
    const m = machine(null, { cmd: 'ip address add', why: 'RTNETLINK answers: Operation not permitted' });
    const h = new VipHolder(m.run, m.where, 'linux');
    await h.configure(PLAN);
    assert.deepEqual(await h.add(), { ok: false, message: 'ip address add 10.20.0.100/24 dev eth0 label eth0:dx failed: RTNETLINK answers: Operation not permitted' });
    assert.equal(h.held, false);
    const a = machine(null, { cmd: 'arping', why: 'arping: socket: Operation not permitted' });
    const ha = new VipHolder(a.run, a.where, 'linux');
    await ha.configure(PLAN);
    let said = '';
    ha.onAnnounceFailed = (message) => (said = message);
    const r = await ha.add();
    await ha.announcing;
    assert.equal(r.ok, true);
    assert.match(said, /announcement failed .*arping: socket: Operation not permitted/);
    assert.equal(ha.held, true);
  });

  it('a new plan moves a held VIP: removed from the old address, added at the new one', async () => {
    const m = machine();
    const h = new VipHolder(m.run, m.where, 'linux');
    await h.configure(PLAN);
    await h.add();
    m.ran.length = 0;
    await h.configure({ vip: { address: '10.20.0.101', prefix: 24 }, card: 'eth0' });
    await h.announcing;
    assert.deepEqual(m.ran, ['ip address del 10.20.0.100/24 dev eth0', 'ip address add 10.20.0.101/24 dev eth0 label eth0:dx', 'arping -q -U -c 2 -w 2 -I eth0 10.20.0.101']);
  });

  it('Windows: netsh adds it (Windows announces it), and deletes it', async () => {
    const m = machine();
    const h = new VipHolder(async (argv) => { m.ran.push(argv.join(' ')); return null; }, async () => null, 'win32');
    await h.configure({ vip: PLAN.vip, card: 'Plant LAN' });
    await h.add();
    assert.deepEqual(m.ran, ['netsh interface ipv4 add address name=Plant LAN address=10.20.0.100 mask=255.255.255.0 skipassource=true']);
  });
});
