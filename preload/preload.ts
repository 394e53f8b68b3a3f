/**
 * The status window's preload: exposes the contract (main/ui/contract.ts) as `window.duplex`
 * over IPC, and nothing else. Runs with contextIsolation and the sandbox, so it may only use
 * `electron`; the channel names are compiled in.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { Channel, type DuplexApi, type StatusView, type UiCommand, type UiResult } from '../main/ui/contract';

const api: DuplexApi = {
  getStatus: () => ipcRenderer.invoke(Channel.GetStatus) as Promise<StatusView>,
  command: (cmd: UiCommand) => ipcRenderer.invoke(Channel.Command, cmd) as Promise<UiResult>,
  onStatus: (listener) => {
    const handler = (_e: IpcRendererEvent, s: StatusView) => listener(s);
    ipcRenderer.on(Channel.Status, handler);
    return () => {
      ipcRenderer.removeListener(Channel.Status, handler);
    };
  },
};

contextBridge.exposeInMainWorld('duplex', api);
