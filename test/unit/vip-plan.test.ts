/** The virtual IP's plan: parsing, the card that takes it, and the command lines of each platform. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cardsOf, chooseCard, commandsFor, dottedMask, heldOn, inSubnet, parseVip, type Card, type Vip } from '../../main/vip/plan';

const VIP = parseVip('10.20.0.100/24') as Vip;
const card = (name: string, address: string, prefix = 24, internal = false): Card => ({ name, address, cidr: `${address}/${prefix}`, internal });

describe('virtual IP: the address', () => {
  it('takes an IPv4 address with its prefix length', () => {
    assert.deepEqual(parseVip('10.20.0.100/24'), { address: '10.20.0.100', prefix: 24 });
    assert.deepEqual(parseVip(' 192.168.1.50/16 '), { address: '192.168.1.50', prefix: 16 });
  });

  it('refuses what is not one, naming the field and the example', () => {
    for (const bad of ['10.20.0.100', '10.20.0.300/24', 'plc/24', '10.20.0.100/24/1', '']) {
      assert.match(parseVip(bad) as string, /^virtualIp.address must be an IPv4 address with its prefix length, like 10.20.0.100\/24/, bad);
    }
    assert.match(parseVip('10.20.0.100/32') as string, /prefix length must be 8 to 30/);
    assert.match(parseVip('10.20.0.0/24') as string, /network or broadcast address/);
    assert.match(parseVip('10.20.0.255/24') as string, /network or broadcast address/);
  });

  it('knows its subnet', () => {
    assert.equal(inSubnet(VIP, '10.20.0.11'), true);
    assert.equal(inSubnet(VIP, '10.20.1.11'), false);
    assert.equal(dottedMask(24), '255.255.255.0');
    assert.equal(dottedMask(20), '255.255.240.0');
  });
});

describe('virtual IP: the card that takes it', () => {
  const cards = [card('lo', '127.0.0.1', 8, true), card('eth0', '10.20.0.11'), card('eth1', '192.168.5.11')];

  it('is the one card with an address in its subnet', () => {
    assert.equal((chooseCard(VIP, cards) as Card).name, 'eth0');
  });

  it('or the card named, when it has an address in the subnet', () => {
    assert.equal((chooseCard(VIP, [...cards, card('eth2', '10.20.0.12')], 'eth2') as Card).name, 'eth2');
    assert.match(chooseCard(VIP, cards, 'eth1') as string, /card eth1 has no address in 10.20.0.100\/24's subnet \(192.168.5.11\)/);
    assert.match(chooseCard(VIP, cards, 'eth9') as string, /no card named "eth9" with an IPv4 address here \(cards: eth0, eth1\)/);
  });

  it('says what to do when there is none or more than one', () => {
    assert.match(chooseCard(VIP, [card('eth1', '192.168.5.11')]) as string, /no card here has an address in 10.20.0.100\/24's subnet \(cards: eth1 192.168.5.11\); set virtualIp.interface/);
    assert.match(chooseCard(VIP, [...cards, card('eth2', '10.20.0.12')]) as string, /cards eth0 and eth2 both have addresses in .*; name one with virtualIp.interface/);
  });

  it('does not take the VIP itself, left on a card by a crash, for a card of its own', () => {
    const left = [...cards, { name: 'eth0:dx', address: '10.20.0.100', cidr: '10.20.0.100/24', internal: false }];
    assert.equal((chooseCard(VIP, left) as Card).name, 'eth0');
    assert.equal(heldOn(VIP, left), 'eth0');
    assert.equal(heldOn(VIP, cards), null);
  });

  it('reads os.networkInterfaces()', () => {
    const list = cardsOf({ eth0: [{ address: '10.20.0.11', cidr: '10.20.0.11/24', internal: false, family: 'IPv4' }, { address: 'fe80::1', cidr: 'fe80::1/64', internal: false, family: 'IPv6' }] });
    assert.deepEqual(list, [{ name: 'eth0', address: '10.20.0.11', cidr: '10.20.0.11/24', internal: false }]);
  });
});

describe('virtual IP: the command lines', () => {
  it('Linux: ip address add with a label, unsolicited ARP, ip address del', () => {
    assert.deepEqual(commandsFor('linux', VIP, 'eth0'), {
      add: ['ip', 'address', 'add', '10.20.0.100/24', 'dev', 'eth0', 'label', 'eth0:dx'],
      announce: ['arping', '-q', '-U', '-c', '2', '-w', '2', '-I', 'eth0', '10.20.0.100'],
      del: ['ip', 'address', 'del', '10.20.0.100/24', 'dev', 'eth0'],
    });
    assert.equal(commandsFor('linux', VIP, 'enp0s31f6long').add[7], 'enp0s31f6lon:dx', 'a label is at most 15 characters');
  });

  it('Windows: netsh on the interface alias, with the mask, kept out of the source addresses', () => {
    assert.deepEqual(commandsFor('win32', VIP, 'Plant LAN'), {
      add: ['netsh', 'interface', 'ipv4', 'add', 'address', 'name=Plant LAN', 'address=10.20.0.100', 'mask=255.255.255.0', 'skipassource=true'],
      announce: null,
      del: ['netsh', 'interface', 'ipv4', 'delete', 'address', 'name=Plant LAN', 'address=10.20.0.100'],
    });
  });
});
