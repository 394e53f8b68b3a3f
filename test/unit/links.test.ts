/** Heartbeats over several networks: copies recognised, links per peer, link faults. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LinkTracker, linkFaults } from '../../main/net/links';
import { domainChanges } from '../../main/domain/changes';
import { domainSchema } from '../../main/domain/schema';

describe('several networks', () => {
  it('the network a datagram came in on is the one whose subnet holds its source address', () => {
    const t = new LinkTracker(['10.0.1.11', '192.168.5.11'], [24, 24]);
    assert.equal(t.networkOf('10.0.1.12'), 0);
    assert.equal(t.networkOf('192.168.5.12'), 1);
    assert.equal(t.networkOf('172.16.0.1'), 0);
    assert.equal(new LinkTracker(['127.0.0.1']).networkOf('127.0.0.1'), 0);
  });

  it('the copy of a delivered datagram from the other network is recognised (not a replay), and marks that link heard', () => {
    const t = new LinkTracker(['10.0.1.11', '192.168.5.11'], [24, 24]);
    assert.equal(t.arrived('b', 7, 1, 0, 1000), false);
    t.delivered('b', 7, 1, 0);
    assert.equal(t.arrived('b', 7, 1, 1, 1002), true);
    // A second copy over a network it already came in on is a replay: the replay guard judges it.
    assert.equal(t.arrived('b', 7, 1, 1, 1003), false);
    assert.equal(t.arrived('b', 7, 1, 0, 1004), false);
    // A later datagram on the second network first: its copy on the first network is the duplicate.
    assert.equal(t.arrived('b', 7, 2, 1, 1200), false);
    t.delivered('b', 7, 2, 1);
    assert.equal(t.arrived('b', 7, 2, 0, 1201), true);
    // Another boot of the sender: nothing of the old one counts.
    assert.equal(t.arrived('b', 8, 2, 0, 1300), false);
    assert.deepEqual(t.links('b', 1500, 800), [
      { network: '10.0.1.11', up: true, lastHeardMs: 200 },
      { network: '192.168.5.11', up: true, lastHeardMs: 300 },
    ]);
    assert.deepEqual(t.links('b', 2050, 800).map((l) => l.up), [true, false]);
    assert.deepEqual(t.links('c', 2050, 800), [
      { network: '10.0.1.11', up: false, lastHeardMs: null },
      { network: '192.168.5.11', up: false, lastHeardMs: null },
    ]);
  });

  it('a network on which peers heard elsewhere are silent is a fault; a silent peer is not; one network has none', () => {
    const up = (u: boolean) => ({ network: '', up: u, lastHeardMs: u ? 100 : 5000 });
    const nets = ['10.0.1.11', '192.168.5.11'];
    assert.deepEqual(linkFaults(nets, [{ server: 'b', links: [up(true), up(true)] }]), []);
    assert.deepEqual(linkFaults(nets, [{ server: 'b', links: [up(true), up(false)] }, { server: 'c', links: [up(true), up(false)] }, { server: 'd', links: [up(false), up(false)] }]),
      ['network 192.168.5.11: no heartbeat from b, c on it (heard on the other networks); check this network\'s cable and switch']);
    assert.deepEqual(linkFaults(['10.0.1.11'], [{ server: 'b', links: [up(false)] }]), []);
  });

  it('the domain file: multicast.interfaces or per-server addresses, the same number of networks on every server', () => {
    const base = { domain: 'plant', multicast: {} };
    const ok = domainSchema.safeParse({ ...base, multicast: { interfaces: ['10.0.1.0/24', '192.168.5.0/24'] }, servers: [{ name: 'a', role: 'main' }, { name: 'b', role: 'backup' }] });
    assert.equal(ok.success, true);
    const per = domainSchema.safeParse({ ...base, servers: [{ name: 'a', role: 'main', addresses: ['10.0.1.11', '192.168.5.11'] }, { name: 'b', role: 'backup', addresses: ['10.0.1.12', '192.168.5.12'] }] });
    assert.equal(per.success, true);
    const problems = (d: unknown) => {
      const r = domainSchema.safeParse(d);
      return r.success ? [] : r.error.issues.map((i) => i.message);
    };
    assert.deepEqual(problems({ ...base, servers: [{ name: 'a', role: 'main', addresses: ['10.0.1.11', '192.168.5.11'] }, { name: 'b', role: 'backup', address: '10.0.1.12' }] }),
      ['every server needs the same number of networks (found 1 and 2): give each the same number of addresses, or use multicast.interfaces']);
    assert.deepEqual(problems({ ...base, servers: [{ name: 'a', role: 'main', address: '10.0.1.11', addresses: ['10.0.1.11'] }] }), ['server a: set address (one network) or addresses (several), not both']);
    assert.deepEqual(problems({ ...base, multicast: { interface: '10.0.1.0/24', interfaces: ['10.0.1.0/24'] }, servers: [{ name: 'a', role: 'main' }] }),
      ['set multicast.interface (one network) or multicast.interfaces (several), not both']);
    assert.match(problems({ ...base, multicast: { interfaces: ['a', 'b', 'c', 'd', 'e'] }, servers: [{ name: 'a', role: 'main' }] }).join('; '), /one to four networks/);
  });
});

describe('a new revision with quorum or networks changed', () => {
  it('quorum applies live; a server\'s addresses need a restart', () => {
    const cfg = (over: Record<string, unknown>, addresses = ['10.0.1.11', '192.168.5.11']) => domainSchema.parse({
      domain: 'plant', servers: [{ name: 'a', role: 'main', addresses }, { name: 'b', role: 'backup', addresses: ['10.0.1.12', '192.168.5.12'] }, { name: 'w', role: 'witness', addresses: ['10.0.1.13', '192.168.5.13'] }], ...over,
    });
    assert.deepEqual(domainChanges(cfg({}), cfg({ quorum: 'off' }), 'a'), { restart: [], live: ['quorum'] });
    assert.deepEqual(domainChanges(cfg({}), cfg({}, ['10.0.1.21', '192.168.5.11']), 'a'), { restart: ['servers[a].addresses'], live: ['servers'] });
  });
});
