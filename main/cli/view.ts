/**
 * What the CLI reads from a node beyond StatusView: the domain at a glance (`GET /domain`).
 * Written here from the admin API's description until main/ui/contract.ts carries it; the
 * fields the CLI uses are optional where an older node leaves them out.
 */
import type { RuntimeMode, StatusView } from '../ui/contract';

/** `GET /domain?timeoutMs=N`: every server of the domain file in order, each fetched by the node asked. */
export interface DomainView {
  domain: string;
  /** The server whose node answered. */
  from: string;
  servers: { server: string; status: StatusView | null; error: string | null }[];
}

/** A peer as the asking node sees it, with its runtime mode from its heartbeats (newer nodes). */
export type PeerWithRuntime = StatusView['peers'][number] & { runtime?: RuntimeMode | null };
