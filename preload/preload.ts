/**
 * The status window's preload: exposes the contract (main/ui/contract.ts) as `window.duplex`
 * over IPC, and nothing else. Runs with contextIsolation and the sandbox, so it may only use
 * `electron`; the channel names are compiled in.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { Ipc, type CallChannel, type CallMethod, type DuplexApi, type StatusView } from '../main/ui/contract';

/** A call of the contract over IPC, on the channel derived from the method's name. */
const invoke = <M extends CallMethod>(method: M) => (...args: Parameters<DuplexApi[M]>) => {
  const channel: CallChannel<M> = `${Ipc.Prefix}${method}`;
  return ipcRenderer.invoke(channel, ...args) as ReturnType<DuplexApi[M]>;
};

const api: DuplexApi = {
  getStatus: invoke('getStatus'),
  command: invoke('command'),
  getDomain: invoke('getDomain'),
  onStatus: (listener) => {
    const handler = (_e: IpcRendererEvent, s: StatusView) => listener(s);
    ipcRenderer.on(Ipc.Status, handler);
    return () => {
      ipcRenderer.removeListener(Ipc.Status, handler);
    };
  },
};

contextBridge.exposeInMainWorld('duplex', api);
