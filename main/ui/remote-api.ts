/**
 * The contract (contract.ts) spoken to a node this process did not start — the node of the
 * Duplex service — through its admin API's WebSocket (ui-server.ts). The tray attaches with it,
 * so that the tray shows and commands the service's node exactly as one it hosts, and quitting
 * the tray leaves that node and its runtime running.
 *
 * The endpoint (port and token) is read from the node's admin.json on every connection, so a
 * restarted service is found again; while there is no connection, calls are refused with the
 * reason and `onLink` says so.
 */
import WebSocket from 'ws';
import { NoNodeError, readEndpoint, type AdminEndpoint } from '../node/admin-client';
import type { CallMethod, DuplexApi, StatusView, WsFrame, WsRequest } from './contract';

export interface RemoteApi extends DuplexApi {
  /** Whether the node answers now. */
  readonly connected: boolean;
  /** Called when the connection is made or lost (with why). */
  onLink(listener: (connected: boolean, why: string) => void): void;
  close(): void;
}

const RETRY_MS = 1_000;

/** Attaches to the node whose admin endpoint is in `endpointFile`. Resolves once connected; rejects (saying why) when it cannot be reached at all. */
export async function attachToNode(endpointFile: string): Promise<RemoteApi> {
  const first = await openSocket(readEndpoint(endpointFile));
  let ws: WebSocket | null = first;
  let closed = false;
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const statusListeners = new Set<(s: StatusView) => void>();
  const linkListeners = new Set<(connected: boolean, why: string) => void>();
  const link = (up: boolean, why: string) => {
    for (const l of linkListeners) l(up, why);
  };

  const use = (socket: WebSocket) => {
    ws = socket;
    socket.on('message', (data: Buffer) => {
      let frame: WsFrame;
      try {
        frame = JSON.parse(data.toString('utf8')) as WsFrame;
      } catch {
        return; // not the contract: ignored
      }
      if ('event' in frame) {
        for (const l of statusListeners) l(frame.data);
        return;
      }
      const p = pending.get(frame.id);
      pending.delete(frame.id);
      if ('error' in frame) p?.reject(new Error(frame.error));
      else p?.resolve(frame.result);
    });
    socket.once('close', () => {
      ws = null;
      for (const p of pending.values()) p.reject(new Error('the connection to the Duplex node was lost'));
      pending.clear();
      if (closed) return;
      link(false, 'the connection to the Duplex node was lost (the service may be restarting)');
      void reconnect();
    });
  };

  const reconnect = async () => {
    while (!closed) {
      await new Promise((r) => setTimeout(r, RETRY_MS));
      if (closed) return;
      try {
        const socket = await openSocket(readEndpoint(endpointFile));
        if (closed) return socket.close();
        use(socket);
        link(true, 'connected to the Duplex node');
        return;
      } catch {
        // not back yet
      }
    }
  };

  const call = <M extends CallMethod>(method: M, ...params: Parameters<DuplexApi[M]>) => new Promise<unknown>((resolveCall, rejectCall) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return rejectCall(new Error('the Duplex node does not answer (is the Duplex service running?)'));
    const id = next++;
    const request: WsRequest<M> = { id, method, params };
    pending.set(id, { resolve: resolveCall, reject: rejectCall });
    ws.send(JSON.stringify(request));
  }) as ReturnType<DuplexApi[M]>;

  use(first);
  return {
    get connected() {
      return ws !== null;
    },
    getStatus: () => call('getStatus'),
    command: (cmd, server) => call('command', cmd, server),
    getDomain: (timeoutMs) => call('getDomain', timeoutMs),
    onStatus: (l) => {
      statusListeners.add(l);
      return () => statusListeners.delete(l);
    },
    onLink: (l) => void linkListeners.add(l),
    close: () => {
      closed = true;
      ws?.close();
    },
  };
}

function openSocket(endpoint: AdminEndpoint): Promise<WebSocket> {
  return new Promise((resolveOpen, rejectOpen) => {
    const socket = new WebSocket(`ws://127.0.0.1:${endpoint.port}/ui/socket?token=${encodeURIComponent(endpoint.token)}`);
    socket.once('open', () => resolveOpen(socket));
    socket.once('error', (e) => rejectOpen(new NoNodeError(`cannot reach the Duplex node on 127.0.0.1:${endpoint.port}: ${e.message}`)));
  });
}
