/**
 * The contract over the admin API's WebSocket, for a status window opened in a browser. When the
 * connection is lost (the node stopped or restarted) it says so and connects again every second.
 */
import type { CallMethod, DuplexApi, StatusView, WsFrame, WsRequest } from '../main/ui/contract';

const RETRY_MS = 1_000;

export function connectWs(token: string, onLink: (connected: boolean, why: string) => void): DuplexApi {
  let ws: WebSocket | null = null;
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners = new Set<(s: StatusView) => void>();
  let opened: Promise<void>;

  const open = () => {
    const socket = new WebSocket(`ws://${location.host}/ui/socket?token=${encodeURIComponent(token)}`);
    let up = false;
    opened = new Promise<void>((resolveOpen, rejectOpen) => {
      socket.addEventListener('open', () => {
        up = true;
        ws = socket;
        onLink(true, 'connected to the Duplex node');
        resolveOpen();
      });
      socket.addEventListener('error', () => rejectOpen(new Error('cannot reach the Duplex node (is it running?)')));
    });
    opened.catch(() => undefined);
    socket.addEventListener('close', () => {
      ws = null;
      for (const p of pending.values()) p.reject(new Error('connection to the node lost'));
      pending.clear();
      onLink(false, up ? 'connection to the Duplex node lost: it may have stopped or be restarting' : 'cannot reach the Duplex node (is it running?)');
      setTimeout(open, RETRY_MS);
    });
    socket.addEventListener('message', (ev: MessageEvent<string>) => {
      const frame = JSON.parse(ev.data) as WsFrame;
      if ('event' in frame) {
        for (const l of listeners) l(frame.data);
        return;
      }
      const p = pending.get(frame.id);
      pending.delete(frame.id);
      if (!p) return;
      if ('error' in frame) p.reject(new Error(frame.error));
      else p.resolve(frame.result);
    });
  };
  open();

  /** One call of the contract: the method's name and arguments are checked against its type. */
  const call = <M extends CallMethod>(method: M, ...params: Parameters<DuplexApi[M]>) => (async () => {
    await opened;
    const socket = ws;
    if (!socket) throw new Error('not connected to the Duplex node');
    const id = next++;
    const request: WsRequest<M> = { id, method, params };
    return new Promise<unknown>((resolveCall, rejectCall) => {
      pending.set(id, { resolve: resolveCall, reject: rejectCall });
      socket.send(JSON.stringify(request));
    });
  })() as ReturnType<DuplexApi[M]>;
  return {
    getStatus: () => call('getStatus'),
    command: (cmd, server) => call('command', cmd, server),
    getDomain: (timeoutMs) => call('getDomain', timeoutMs),
    onStatus: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
}
