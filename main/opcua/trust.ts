/**
 * The OPC UA endpoint's trust list, as a technician meets it: which client certificate was
 * refused, the one command that trusts it, and a rejected folder that cannot fill the disk.
 *
 * node-opcua keeps the list in folders (its PKI store): a client certificate is trusted when it
 * is in `trusted/certs`; an unknown one is refused and written to `rejected/` as
 * `<common name>[<SHA-1 thumbprint>].pem`. The store watches its folders, so a certificate
 * moved into `trusted/certs` counts at the client's next attempt, without a restart.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { quote } from '../node/doors';

export interface ClientCertificate {
  /** SHA-1 of the DER certificate, lower-case hex: node-opcua's name for it and the key of its store. */
  thumbprint: string;
  /** The subject's common name (CN), as the client wrote it. */
  name: string;
  /** The application URI (subjectAltName URI), null when absent. */
  uri: string | null;
}

/**
 * A name a client chose (its certificate's common name or URI) in a log line: cut short and
 * between double quotes, its own quotes escaped, so it cannot pass for the words around it.
 * The node's logger writes control characters as escapes (oneLine).
 */
export const nameInLog = (text: string): string => JSON.stringify(quote(text));

/** The first certificate of a DER chain (an OPC UA client may send its issuers after its own). */
export function leafOf(der: Buffer): Buffer {
  if (der.length < 2 || der[0] !== 0x30) return der;
  const first = der[1]!;
  if (first < 0x80) return der.subarray(0, 2 + first);
  const bytes = first & 0x7f;
  let length = 0;
  for (let i = 0; i < bytes; i++) length = length * 256 + (der[2 + i] ?? 0);
  return der.subarray(0, Math.min(der.length, 2 + bytes + length));
}

/** Who a client certificate says it is. Never throws: an unreadable certificate still has a thumbprint. */
export function describeCertificate(der: Buffer): ClientCertificate {
  const leaf = leafOf(der);
  const thumbprint = createHash('sha1').update(leaf).digest('hex');
  try {
    const x = new X509Certificate(leaf);
    const name = /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1] ?? x.subject;
    const uri = /(?:^|, )URI:([^,]*)/.exec(x.subjectAltName ?? '')?.[1] ?? null;
    return { thumbprint, name, uri };
  } catch {
    return { thumbprint, name: '(unreadable certificate)', uri: null };
  }
}

/**
 * The command that trusts a refused certificate: it moves the file from the rejected folder
 * into the trusted one. The file is matched by its thumbprint (hex, made here), never by the
 * name the client chose, so nothing from outside reaches a shell. On Windows the same line
 * works in cmd.exe and in PowerShell.
 */
export function trustCommand(rejectedFolder: string, trustedFolder: string, thumbprint: string, platform: NodeJS.Platform = process.platform): string {
  if (!/^[0-9a-f]{40}$/.test(thumbprint)) throw new Error(`not a SHA-1 thumbprint: ${thumbprint}`);
  if (platform === 'win32') return `move "${rejectedFolder}\\*${thumbprint}*.pem" "${trustedFolder}"`;
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `mv ${q(rejectedFolder)}/*${thumbprint}*.pem ${q(trustedFolder)}/`;
}

/**
 * Deletes the oldest `.pem` files of the rejected folder beyond `keep`; returns how many it
 * deleted. Anybody who reaches the port can have a new file written there with every attempt.
 */
export async function pruneRejected(folder: string, keep: number): Promise<number> {
  const names = (await readdir(folder)).filter((n) => n.endsWith('.pem'));
  if (names.length <= keep) return 0;
  const files = await Promise.all(names.map(async (n) => {
    const p = join(folder, n);
    return { p, t: await stat(p).then((s) => s.mtimeMs, () => 0) };
  }));
  files.sort((a, b) => a.t - b.t);
  const old = files.slice(0, files.length - keep);
  await Promise.all(old.map((f) => unlink(f.p).catch(() => undefined)));
  return old.length;
}
