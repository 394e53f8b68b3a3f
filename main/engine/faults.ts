/**
 * Faults that keep a server from acting on silence: another process with this server's name
 * (a cloned machine), and addresses whose datagrams fail authentication (another secret). Each
 * counts while it was seen within the failure timeout in force; its start and end are logged.
 */
import type { FaultEffect } from './types';

/** What status, log and tray say about an address whose datagrams fail authentication. */
export function unverifiableText(address: string): string {
  return `cannot verify ${address}: is the secret file the same on every server?`;
}

/** What status, log and tray say while another process runs with this server's name. */
export function nameConflictText(self: string, address: string): string {
  return `another Duplex node also runs as server ${self} at ${address} (a cloned machine or a copied tray.json?); give every server its own name`;
}

export class Faults {
  /** Another process with this server's name (a clone): where, and when last heard. */
  private nameConflict: { address: string; at: number } | null = null;
  /** Addresses whose datagrams fail authentication: the servers that may be sending them, and when last. */
  private readonly unverifiable = new Map<string, { suspects: string[]; at: number }>();

  /** `timeout`: the failure timeout in force (stretched by awareness). */
  constructor(private readonly self: string, private readonly timeout: () => number, private readonly emit: (e: FaultEffect) => void) {}

  /**
   * Another process uses this server's name. A node that has claimed nothing yet (`mayYield`)
   * yields, so the server that was there first keeps running. Any other node keeps its role,
   * shows the fault, and takes the Active role on nothing while it lasts.
   */
  nameConflicted(now: number, address: string, mayYield: boolean): void {
    if (mayYield) {
      this.emit({
        kind: 'yield',
        reason: `another Duplex node is already running as server ${this.self} at ${address} (a cloned machine or a copied tray.json?); this node stops. Give every server its own name`,
      });
    } else if (!this.nameConflict) {
      this.emit({ kind: 'fault', fault: nameConflictText(this.self, address), on: true });
    }
    this.nameConflict = { address, at: now };
  }

  unverified(now: number, address: string, suspects: string[]): void {
    if (!this.unverifiable.has(address)) this.emit({ kind: 'fault', fault: unverifiableText(address), on: true });
    this.unverifiable.set(address, { suspects: [...suspects], at: now });
  }

  /** A fault counts while it was seen within the (awareness-stretched) failure timeout. */
  private recent(at: number, now: number): boolean {
    return now - at < this.timeout();
  }

  /** Another process runs under this name now: it may be the Active. */
  conflicted(now: number): boolean {
    return this.nameConflict !== null && this.recent(this.nameConflict.at, now);
  }

  /** Faults not seen for the failure timeout are over; each end is logged. */
  expire(now: number): void {
    if (this.nameConflict && !this.recent(this.nameConflict.at, now)) {
      this.emit({ kind: 'fault', fault: nameConflictText(this.self, this.nameConflict.address), on: false });
      this.nameConflict = null;
    }
    for (const [address, u] of this.unverifiable) {
      if (this.recent(u.at, now)) continue;
      this.emit({ kind: 'fault', fault: unverifiableText(address), on: false });
      this.unverifiable.delete(address);
    }
  }

  list(now: number): string[] {
    const out: string[] = [];
    if (this.conflicted(now)) out.push(nameConflictText(this.self, this.nameConflict!.address));
    for (const [address, u] of this.unverifiable) if (this.recent(u.at, now)) out.push(unverifiableText(address));
    return out;
  }

  /**
   * Why this server must not take the Active role on silence (start-up or failover), null when
   * it may: a recent unverifiable address may hide the server whose silence it would act on —
   * the Active it last heard (`lastActive`), or, when it has heard none since start, any server
   * not heard now (not in `live`).
   */
  unverifiedSilence(now: number, lastActive: string | null, live: ReadonlySet<string>): string | null {
    for (const [address, u] of this.unverifiable) {
      if (!this.recent(u.at, now)) continue;
      const silent = lastActive !== null ? u.suspects.filter((s) => s === lastActive) : u.suspects.filter((s) => !live.has(s));
      if (silent.length) {
        return `${unverifiableText(address)} Not taking over on the silence of ${silent.join(', ')}, which may be sending from there (duplex activate overrides)`;
      }
    }
    return null;
  }
}
