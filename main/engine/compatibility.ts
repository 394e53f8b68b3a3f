/**
 * E3's rule, judged only against a live Active: a server whose Duplex major.minor or
 * application version differs from the Active's is neither Active nor Standby. It owns what the
 * last Active heard said of its versions, and the verdict.
 */
import type { Peers } from './peers';
import type { Effect, Heartbeat, NodeInfo } from './types';

/** `major.minor` of a version (1.2.3 → 1.2); the whole text when it has no such form. */
function minorOf(version: string): string {
  const m = /^v?(\d+)\.(\d+)(?!\d)/.exec(version.trim());
  return m ? `${Number(m[1])}.${Number(m[2])}` : version;
}

/**
 * Duplex versions that may run side by side: the same major.minor. A patch release changes
 * neither the engine's rules nor the heartbeat (the wire version, PROTOCOL_VERSION, is checked
 * on every datagram: a peer heard at all speaks this server's wire version).
 */
export function duplexCompatible(a: string, b: string): boolean {
  return minorOf(a) === minorOf(b);
}

export class Compatibility {
  /** What the last Active heard said about its versions. */
  private active: { server: string; info: NodeInfo | undefined; at: number } | null = null;
  private why: string | null = null;

  constructor(private readonly peers: Peers, private readonly timeout: () => number) {}

  /** Why this server's versions do not match the Active's; null when they do. */
  get incompatible(): string | null {
    return this.why;
  }

  /** A peer's heartbeat: an Active's versions are the ones to match. */
  heard(msg: Heartbeat, now: number): void {
    if (msg.role === 'active') {
      this.active = { server: msg.from, info: msg.info, at: now };
    } else if (msg.role === 'deactivating' && this.active?.server === msg.from) {
      this.active.at = now; // still the Active, handing over
    }
  }

  /**
   * Compared with the last Active heard while an Active (or a handover) is heard within the
   * failure timeout and this server is not Active itself (`mine`: this server's versions). With
   * no Active reachable the verdict ends, so a server left alone with other versions can take
   * over (and be activated): nothing else runs the plant. Returns the verdict's change (null:
   * none); `activeGone` says it ended because no Active is heard any more.
   */
  check(now: number, mine: NodeInfo | undefined, selfActive: boolean): Extract<Effect, { kind: 'compatibility' }> | null {
    const a = this.active;
    if (!a || !mine || selfActive) return null;
    // Gone: that Active not heard (as Active or handing over) for the failure timeout. While it
    // hands over (its grant) a verdict is kept until the new Active is heard, never made anew.
    const handingOver = this.peers.live(now).some((p) => p.name === a.server && p.hb.grantTo !== undefined);
    const gone = now - a.at >= this.timeout() && !(handingOver && this.why !== null);
    let why: string | null = null;
    if (gone) why = null;
    else if (!a.info) why = `the Active ${a.server} does not say which Duplex version it runs (older than ${mine.ver}?)`;
    else if (!duplexCompatible(a.info.ver, mine.ver)) {
      why = `Duplex ${mine.ver} here, ${a.info.ver} on the Active ${a.server}: servers must run the same Duplex major.minor (patch releases may differ); install ${minorOf(a.info.ver)}.x here or upgrade every server`;
    } else if (a.info.app !== mine.app) why = `application version ${mine.app || '(none)'} here, ${a.info.app || '(none)'} on the Active ${a.server}`;
    if (why === this.why) return null;
    this.why = why;
    const effect: Extract<Effect, { kind: 'compatibility' }> = { kind: 'compatibility', active: a.server, incompatible: why };
    if (why === null && gone) effect.activeGone = true;
    return effect;
  }
}
