/** `duplex status`'s check of the virtual IP from this server: the verdict for what the kernel and the LAN said. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { arpingReplies, vipVerdict } from '../../main/vip/check';

describe('the virtual IP check in duplex status', () => {
  it('the holder: only it answers, or another machine answers too', () => {
    assert.equal(vipVerdict({ here: 'eth0', answers: [], failed: null }, 'eth0'), 'answers from this server (on eth0) only: clients reach this server');
    assert.match(vipVerdict({ here: 'eth0', answers: ['02:00:00:00:00:02'], failed: null }, 'eth0'), /^ALSO ANSWERED by 02:00:00:00:00:02: another machine holds it too/);
  });

  it('another server: one machine answers (the holder), none, or several', () => {
    assert.equal(vipVerdict({ here: null, answers: ['02:00:00:00:00:01'], failed: null }, 'eth0'), "answered by 02:00:00:00:00:01 on eth0's network, not by this server");
    assert.match(vipVerdict({ here: null, answers: [], failed: null }, 'eth0'), /^NO machine answers for it on eth0's network/);
    assert.match(vipVerdict({ here: null, answers: ['02:00:00:00:00:01', '02:00:00:00:00:03'], failed: null }, 'eth0'), /^answered by 2 machines \(02:00:00:00:00:01, 02:00:00:00:00:03\)/);
  });

  it('a check that could not ask says why', () => {
    assert.equal(vipVerdict({ here: null, answers: null, failed: 'arping is not installed (apt-get install iputils-arping)' }, 'eth0'), 'cannot ask who answers for it: arping is not installed (apt-get install iputils-arping)');
  });

  it("arping's replies: each MAC once, lower case; none when nobody answered", () => {
    const out = 'ARPING 10.20.0.100 from 10.20.0.12 eth0\nUnicast reply from 10.20.0.100 [52:54:00:AB:00:01]  0.611ms\nUnicast reply from 10.20.0.100 [52:54:00:ab:00:01]  0.580ms\nUnicast reply from 10.20.0.100 [52:54:00:ab:00:03]  0.702ms\nSent 2 probes (2 broadcast(s))\nReceived 3 response(s)\n';
    assert.deepEqual(arpingReplies(out), ['52:54:00:ab:00:01', '52:54:00:ab:00:03']);
    assert.deepEqual(arpingReplies('ARPING 10.20.0.100 from 10.20.0.12 eth0\nSent 2 probes (2 broadcast(s))\nReceived 0 response(s)\n'), []);
  });
});
