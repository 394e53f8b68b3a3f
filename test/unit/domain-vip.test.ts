/** The domain file's virtualIp section and virtualIpInterface (issue 24): what is accepted, and what is refused with which message. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomainFileError, loadDomain, parseDomain } from '../../main/domain/load';
import { withEndLine } from '../../main/domain/end';
import type { DomainConfig } from '../../main/domain/schema';
import { tempDir } from '../fixtures/temp';

/** Two servers on the plant network 10.20.0.0/24, and a virtual IP there. */
const BASE = `domain: plant
servers:
  - name: a
    role: main
    address: 10.20.0.11
  - name: b
    role: backup
    address: 10.20.0.12
virtualIp:
  address: 10.20.0.100/24
`;

function parsed(text: string): DomainConfig {
  return parseDomain(withEndLine(text), 'plant.yaml');
}

function problems(text: string): string[] {
  try {
    parsed(text);
  } catch (e) {
    assert.ok(e instanceof DomainFileError, String(e));
    return e.problems;
  }
  assert.fail('expected the domain file to be refused');
}

const NO_SUBNET_B = "server b has no address in 10.20.0.100/24's subnet (its addresses: 192.168.5.12): none of the cards the domain file lists for b is on that subnet; name the card that takes the virtual IP with virtualIp.interface (every server) or virtualIpInterface (this server)";

describe('domain file: virtualIp', () => {
  it('absent: no virtual IP', () => {
    const d = parsed(BASE.slice(0, BASE.indexOf('virtualIp:')));
    assert.equal(d.virtualIp, undefined);
    assert.equal(d.servers[0]!.virtualIpInterface, undefined);
  });

  it('the minimal form: an address with its prefix, every server that may be Active with an address in its subnet', () => {
    const d = parsed(BASE);
    assert.deepEqual(d.virtualIp, { address: '10.20.0.100/24' });
    assert.deepEqual(d.servers.map((s) => s.virtualIpInterface), [undefined, undefined]);
  });

  it('the full form: virtualIp.interface for every server, virtualIpInterface for one; then a server off the subnet is accepted', () => {
    const text = `domain: plant
servers:
  - name: a
    role: main
    address: 10.20.0.11
    virtualIpInterface: "Plant LAN"
  - name: b
    role: backup
    address: 192.168.5.12
virtualIp:
  address: 10.20.0.100/24
  interface: eth0
`;
    const d = parsed(text);
    assert.deepEqual(d.virtualIp, { address: '10.20.0.100/24', interface: 'eth0' });
    assert.deepEqual(d.servers.map((s) => s.virtualIpInterface), ['Plant LAN', undefined]);
    // virtualIpInterface on b alone is enough too
    const own = parsed(text.replace('  interface: eth0\n', '').replace('address: 192.168.5.12\n', 'address: 192.168.5.12\n    virtualIpInterface: eth1\n'));
    assert.equal(own.servers[1]!.virtualIpInterface, 'eth1');
    assert.equal(own.virtualIp!.interface, undefined);
  });

  it('a VIP that is a server\'s own address is refused, naming the server (any role: it would be an address conflict)', () => {
    assert.deepEqual(problems(BASE.replace('10.20.0.100/24', '10.20.0.11/24')),
      ['line 10: virtualIp.address: virtualIp.address 10.20.0.11 is the address of server a; the virtual IP must be a free address in that subnet']);
    const text = BASE.replace('virtualIp:', '  - name: w\n    role: witness\n    addresses: [10.20.0.13]\nvirtualIp:').replace('10.20.0.100/24', '10.20.0.13/24');
    assert.deepEqual(problems(text), ['line 13: virtualIp.address: virtualIp.address 10.20.0.13 is the address of server w; the virtual IP must be a free address in that subnet']);
  });

  it('a server that may be Active with no declared address in the subnet and no interface named is refused, naming it', () => {
    assert.deepEqual(problems(BASE.replace('10.20.0.12', '192.168.5.12')), [`line 8: servers[1].address: ${NO_SUBNET_B}`]);
    // the main too, and with addresses: none of them in the subnet
    const both = BASE.replace('address: 10.20.0.11', 'addresses: [192.168.5.11, 172.16.0.11]').replace('address: 10.20.0.12', 'addresses: [192.168.5.12, 172.16.0.12]');
    assert.deepEqual(problems(both), [
      "line 5: servers[0].addresses: server a has no address in 10.20.0.100/24's subnet (its addresses: 192.168.5.11, 172.16.0.11): none of the cards the domain file lists for a is on that subnet; name the card that takes the virtual IP with virtualIp.interface (every server) or virtualIpInterface (this server)",
      "line 8: servers[1].addresses: server b has no address in 10.20.0.100/24's subnet (its addresses: 192.168.5.12, 172.16.0.12): none of the cards the domain file lists for b is on that subnet; name the card that takes the virtual IP with virtualIp.interface (every server) or virtualIpInterface (this server)",
    ]);
    // one of several in the subnet is enough
    parsed(both.replace('172.16.0.11', '10.20.0.11').replace('192.168.5.12', '10.20.0.12'));
    // the subnet is the VIP's prefix: 10.20.1.12 is outside 10.20.0.0/24 but inside 10.20.0.0/16
    assert.equal(problems(BASE.replace('10.20.0.12', '10.20.1.12')).length, 1);
    parsed(BASE.replace('10.20.0.12', '10.20.1.12').replace('10.20.0.100/24', '10.20.0.100/16'));
  });

  it('witness and inactive servers are not checked for the subnet (they never hold the VIP)', () => {
    const text = BASE.replace('virtualIp:', '  - name: c\n    role: inactive\n    address: 192.168.5.13\n  - name: w\n    role: witness\n    address: 192.168.5.14\nvirtualIp:');
    assert.deepEqual(parsed(text).servers.map((s) => s.role), ['main', 'backup', 'inactive', 'witness']);
    assert.deepEqual(problems(text.replace('role: inactive', 'role: backup')),
      ["line 11: servers[2].address: server c has no address in 10.20.0.100/24's subnet (its addresses: 192.168.5.13): none of the cards the domain file lists for c is on that subnet; name the card that takes the virtual IP with virtualIp.interface (every server) or virtualIpInterface (this server)"]);
  });

  it('servers without addresses: judged by multicast.interface only when it is a CIDR block', () => {
    const shared = (iface: string) => `domain: plant
servers:
  - name: a
    role: main
  - name: b
    role: backup
multicast:
  interface: ${iface}
virtualIp:
  address: 10.20.0.100/24
`;
    assert.deepEqual(problems(shared('192.168.5.0/24')), [
      "line 3: servers[0]: server a has no address in 10.20.0.100/24's subnet (its card is chosen by multicast.interface: 192.168.5.0/24): none of the cards the domain file lists for a is on that subnet; name the card that takes the virtual IP with virtualIp.interface (every server) or virtualIpInterface (this server)",
      "line 5: servers[1]: server b has no address in 10.20.0.100/24's subnet (its card is chosen by multicast.interface: 192.168.5.0/24): none of the cards the domain file lists for b is on that subnet; name the card that takes the virtual IP with virtualIp.interface (every server) or virtualIpInterface (this server)",
    ]);
    parsed(shared('10.20.0.0/24'));
    parsed(shared('10.0.0.0/8')); // a wider block holding the VIP's subnet
    parsed(shared('10.20.0.128/25')); // a narrower block inside it
    parsed(shared('127.0.0.1')); // an address alone does not tell the subnet: not checked
    parsed(`${shared('192.168.5.0/24')}  interface: eth1\n`);
    assert.equal(problems(shared('192.168.5.0/24').replace('  interface: 192.168.5.0/24', '  interfaces: [192.168.5.0/24, 172.16.0.0/16]')).length, 2);
    parsed(shared('192.168.5.0/24').replace('  interface: 192.168.5.0/24', '  interfaces: [192.168.5.0/24, 10.20.0.0/24]'));
  });

  it('a bad address is refused with parseVip\'s message at its field', () => {
    assert.deepEqual(problems(BASE.replace('10.20.0.100/24', '10.20.0.100')),
      ['line 10: virtualIp.address: virtualIp.address must be an IPv4 address with its prefix length, like 10.20.0.100/24 (found "10.20.0.100")']);
    assert.deepEqual(problems(BASE.replace('10.20.0.100/24', '10.20.0.100/31')),
      ['line 10: virtualIp.address: virtualIp.address 10.20.0.100/31: the prefix length must be 8 to 30 (the subnet the servers\' cards share), found /31']);
    assert.deepEqual(problems(BASE.replace('10.20.0.100/24', '10.20.0.255/24')),
      ['line 10: virtualIp.address: virtualIp.address 10.20.0.255/24 is the network or broadcast address of its subnet; pick a free host address in it']);
    assert.deepEqual(problems(BASE.replace('10.20.0.100/24', '24')),
      ['line 10: virtualIp.address: virtualIp.address must be an IPv4 address with its prefix length, like 10.20.0.100/24']);
    assert.deepEqual(problems(BASE.replace('  address: 10.20.0.100/24\n', '  interface: eth0\n')),
      ['line 9: virtualIp.address: virtualIp.address must be an IPv4 address with its prefix length, like 10.20.0.100/24']);
    assert.deepEqual(problems(BASE.replace('virtualIp:\n  address: 10.20.0.100/24', 'virtualIp: 10.20.0.100/24')),
      ['line 9: virtualIp: virtualIp must be a section with address (like 10.20.0.100/24) and optionally interface']);
    assert.deepEqual(problems(`${BASE}  adress: 10.20.0.101/24\n`), ['line 11: virtualIp.adress: unknown field (check its spelling)']);
  });

  it('interface names: 1-64 characters, no control characters', () => {
    const iface = (name: string) => `${BASE}  interface: ${JSON.stringify(name)}\n`;
    const msg = 'virtualIp.interface must be a card name like eth0 or a Windows interface alias like "Plant LAN": 1-64 characters, no control characters';
    assert.equal(parsed(iface('x'.repeat(64))).virtualIp!.interface!.length, 64);
    assert.equal(parsed(iface('Ethernet 2 (Plant)')).virtualIp!.interface, 'Ethernet 2 (Plant)');
    for (const bad of ['', 'x'.repeat(65), 'eth0\n', 'eth\t0', 'eth0\u0085']) assert.deepEqual(problems(iface(bad)), [`line 11: virtualIp.interface: ${msg}`], JSON.stringify(bad));
    assert.deepEqual(problems(`${BASE}  interface: 7\n`), [`line 11: virtualIp.interface: ${msg}`]);
    assert.deepEqual(problems(BASE.replace('address: 10.20.0.12\n', 'address: 10.20.0.12\n    virtualIpInterface: ""\n')),
      ['line 9: servers[1].virtualIpInterface: virtualIpInterface must be a card name like eth0 or a Windows interface alias like "Plant LAN": 1-64 characters, no control characters']);
  });

  it('duplex domain check refuses it: loadDomain, which the command calls, and the command itself (exit 2, the problem printed)', () => {
    const dir = tempDir('duplex-vip-');
    const file = join(dir, 'plant.yaml');
    writeFileSync(file, withEndLine(BASE.replace('10.20.0.12', '192.168.5.12')), { mode: 0o644 });
    assert.throws(() => loadDomain(file), (e: unknown) => {
      assert.ok(e instanceof DomainFileError);
      assert.deepEqual(e.problems, [`line 8: servers[1].address: ${NO_SUBNET_B}`]);
      return true;
    });
    const cli = spawnSync(process.execPath, [join(__dirname, '..', '..', 'main', 'cli.js'), 'domain', 'check', file], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(cli.status, 2, cli.stderr);
    assert.equal(cli.stderr, `duplex: ${file} is not a valid domain file:\n  line 8: servers[1].address: ${NO_SUBNET_B}\n`);
  });
});
