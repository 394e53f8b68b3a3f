/**
 * `npm run icons`: draws the tray icons (one per role, one for trouble) at 16, 24 and 32 px,
 * the Windows .ico files, and the application icon, into resources/. The files are
 * committed; this is how they were made. Shapes, not letters, so they read at 16 px, and
 * each role differs in shape as well as colour (colour-blind technicians).
 */
import { deflateSync, crc32 } from 'node:zlib';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type RGBA = [number, number, number, number];
/** Coverage of a pixel's sample point (x, y in 0..1 of the icon): the colour, or null. */
type Shape = (x: number, y: number) => RGBA | null;

export const ICONS: Record<string, Shape> = {
  // Active: a solid green disc.
  active: (x, y) => (disc(x, y, 0.44) ? [16, 124, 16, 255] : null),
  // Standby: a blue ring.
  standby: (x, y) => (disc(x, y, 0.44) && !disc(x, y, 0.26) ? [0, 90, 158, 255] : null),
  // Inactive: a grey ring, thinner.
  inactive: (x, y) => (disc(x, y, 0.42) && !disc(x, y, 0.3) ? [120, 120, 120, 255] : null),
  // Maintenance: an orange square.
  maintenance: (x, y) => (Math.abs(x - 0.5) < 0.38 && Math.abs(y - 0.5) < 0.38 ? [202, 80, 16, 255] : null),
  // Trouble: a red triangle with a white bar.
  trouble: (x, y) => {
    const inTri = y > 0.1 && y < 0.92 && Math.abs(x - 0.5) < (y - 0.1) * 0.55;
    if (!inTri) return null;
    const bar = Math.abs(x - 0.5) < 0.07 && ((y > 0.38 && y < 0.7) || (y > 0.76 && y < 0.86));
    return bar ? [255, 255, 255, 255] : [196, 43, 28, 255];
  },
};

function disc(x: number, y: number, r: number): boolean {
  return (x - 0.5) ** 2 + (y - 0.5) ** 2 <= r * r;
}

/** Renders with 4×4 supersampling so edges are smooth at 16 px. */
export function render(shape: Shape, size: number): Buffer {
  const px = Buffer.alloc(size * size * 4);
  const n = 4;
  for (let py = 0; py < size; py++) {
    for (let pxX = 0; pxX < size; pxX++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const c = shape((pxX + (sx + 0.5) / n) / size, (py + (sy + 0.5) / n) / size);
          if (c) {
            r += c[0] * c[3]; g += c[1] * c[3]; b += c[2] * c[3]; a += c[3];
          }
        }
      }
      const o = (py * size + pxX) * 4;
      if (a > 0) {
        px[o] = Math.round(r / a); px[o + 1] = Math.round(g / a); px[o + 2] = Math.round(b / a);
      }
      px[o + 3] = Math.round(a / (n * n));
    }
  }
  return px;
}

export function png(rgba: Buffer, size: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const rows = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(rows, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

/** An .ico holding PNG images (Windows Vista and later read them). */
export function ico(images: { size: number; png: Buffer }[]): Buffer {
  const header = Buffer.alloc(6);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2);
  header.writeUInt16LE(images.length, 4);
  let offset = 6 + 16 * images.length;
  const dir = images.map((im) => {
    const e = Buffer.alloc(16);
    e[0] = im.size >= 256 ? 0 : im.size;
    e[1] = im.size >= 256 ? 0 : im.size;
    e.writeUInt16LE(1, 4); // planes
    e.writeUInt16LE(32, 6); // bits per pixel
    e.writeUInt32LE(im.png.length, 8);
    e.writeUInt32LE(offset, 12);
    offset += im.png.length;
    return e;
  });
  return Buffer.concat([header, ...dir, ...images.map((i) => i.png)]);
}

export const TRAY_SIZES = [16, 24, 32];

function main(): void {
  const out = join(__dirname, '..', '..', 'resources');
  mkdirSync(join(out, 'tray'), { recursive: true });
  for (const [name, shape] of Object.entries(ICONS)) {
    const images = TRAY_SIZES.map((size) => ({ size, png: png(render(shape, size), size) }));
    for (const im of images) writeFileSync(join(out, 'tray', `${name}-${im.size}.png`), im.png);
    // Electron picks name@2x.png and friends on high-DPI screens.
    writeFileSync(join(out, 'tray', `${name}.png`), images[0]!.png);
    writeFileSync(join(out, 'tray', `${name}@1.5x.png`), images[1]!.png);
    writeFileSync(join(out, 'tray', `${name}@2x.png`), images[2]!.png);
    writeFileSync(join(out, 'tray', `${name}.ico`), ico(images));
  }
  // The application and installer icon: the Active disc over a Standby ring, 16–256 px.
  const app: Shape = (x, y) => (disc(x, y, 0.3) ? [16, 124, 16, 255] : disc(x, y, 0.47) && !disc(x, y, 0.38) ? [0, 90, 158, 255] : null);
  const sizes = [16, 24, 32, 48, 64, 128, 256];
  const images = sizes.map((size) => ({ size, png: png(render(app, size), size) }));
  writeFileSync(join(out, 'icon.ico'), ico(images));
  writeFileSync(join(out, 'icon.png'), images[images.length - 1]!.png);
  process.stdout.write(`icons written to ${out}\n`);
}

if (require.main === module) main();
