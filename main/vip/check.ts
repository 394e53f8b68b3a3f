/**
 * `duplex status`'s check of the virtual IP from this server: whether the VIP is on this
 * machine's card, and which other machines answer ARP for it on that card's network (arping,
 * one broadcast request a second, for a second). A client's connection goes to the machine
 * whose MAC answers, so the holder expects no other answer, and any other server exactly one.
 */
import { execFile } from 'node:child_process';
import { vipOnMachine } from './holder';
import type { Vip } from './plan';

/** What the check found: the card holding the VIP here (null: none), the other machines' MACs that answered, or why it could not ask. */
export interface VipProbe {
  here: string | null;
  answers: string[] | null;
  failed: string | null;
}

/** The verdict in a technician's words, for the line under `vip` in `duplex status`. */
export function vipVerdict(p: VipProbe, card: string): string {
  if (p.failed !== null) return `cannot ask who answers for it: ${p.failed}`;
  const others = p.answers ?? [];
  const macs = others.join(', ');
  if (p.here !== null && !others.length) return `answers from this server (on ${p.here}) only: clients reach this server`;
  if (p.here !== null) return `ALSO ANSWERED by ${macs}: another machine holds it too, and clients may reach either; remove it there (ip address del) or find the second Active`;
  if (others.length === 1) return `answered by ${macs} on ${card}'s network, not by this server`;
  if (others.length > 1) return `answered by ${others.length} machines (${macs}) on ${card}'s network: clients may reach any of them; find the second holder`;
  return `NO machine answers for it on ${card}'s network: clients reach nobody (is an Active up, and does it hold it?)`;
}

/** The distinct MACs in arping's replies (`Unicast reply from 10.20.0.100 [52:54:00:12:34:56]  0.7ms`), lower case. */
export function arpingReplies(out: string): string[] {
  return [...new Set([...out.matchAll(/reply from \S+ \[([0-9a-f:]+)\]/gi)].map((m) => m[1]!.toLowerCase()))];
}

/** How long arping asks (-w), in seconds. */
const ASK_SECONDS = 1;

/** Asks the kernel and the LAN (Linux: iproute2 and iputils' arping, which needs root or CAP_NET_RAW). */
export async function probeVip(vip: Vip, card: string): Promise<VipProbe> {
  const here = await vipOnMachine(vip);
  if (process.platform === 'win32') return { here, answers: null, failed: 'not on Windows (ping the VIP from another machine, then arp -a there shows which MAC answers)' };
  return new Promise((resolve) => {
    execFile('arping', ['-b', '-c', '2', '-w', String(ASK_SECONDS), '-I', card, vip.address], { timeout: (ASK_SECONDS + 2) * 1000 }, (err, out, stderr) => {
      const answers = arpingReplies(String(out));
      // arping exits 1 when fewer replies came than asked for: that is an answer too.
      const code = (err as { code?: unknown } | null)?.code;
      if (err && code !== 1) return resolve({ here, answers: null, failed: `arping ${code === 'ENOENT' ? 'is not installed (apt-get install iputils-arping)' : `failed: ${String(stderr).trim().split('\n').pop() || err.message}`}` });
      resolve({ here, answers, failed: null });
    });
  });
}
