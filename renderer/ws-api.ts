/** The contract over the admin API's WebSocket, for a status window opened in a browser. */
import type { CallMethod, DuplexApi, StatusView, WsFrame, WsRequest } from '../main/ui/contract';

export function connectWs(token: string, onClosed: (why: string) => void): DuplexApi {
  const ws = new WebSocket(`ws://${location.host}/ui/socket?token=${encodeURIComponent(token)}`);
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners = new Set<(s: StatusView) => void>();
  const open = new Promise<void>((resolveOpen, rejectOpen) => {
    ws.addEventListener('open', () => resolveOpen());
    ws.addEventListener('error', () => rejectOpen(new Error('cannot reach the Duplex node (is it running? is the address, token included, right?)')));
  });
  ws.addEventListener('close', () => {
    for (const p of pending.values()) p.reject(new Error('connection to the node lost'));
    pending.clear();
    onClosed('connection to the Duplex node lost: it may have stopped');
  });
  ws.addEventListener('message', (ev: MessageEvent<string>) => {
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
  /** One call of the contract: the method's name and arguments are checked against its type. */
  const call = <M extends CallMethod>(method: M, ...params: Parameters<DuplexApi[M]>) => (async () => {
    await open;
    const id = next++;
    const request: WsRequest<M> = { id, method, params };
    return new Promise<unknown>((resolveCall, rejectCall) => {
      pending.set(id, { resolve: resolveCall, reject: rejectCall });
      ws.send(JSON.stringify(request));
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
