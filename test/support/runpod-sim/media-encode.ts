import { Buffer } from "node:buffer";
import { deflateSync } from "node:zlib";

/**
 * Tiny, dependency-free encoders for the simulator's worker outputs: real PNG, WAV and MP4
 * files, small enough to build per request and valid enough for `test/support/media.ts`.
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit RGB PNG of width x height holding a gradient whose colours derive from the seed. */
export function encodePng(width: number, height: number, seed = 0): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour RGB
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter
  ihdr[12] = 0; // no interlace
  const rowLength = 1 + width * 3;
  const raw = Buffer.alloc(rowLength * height);
  const r0 = (seed * 37) & 0xff, g0 = (seed * 91) & 0xff, b0 = (seed * 53) & 0xff;
  for (let y = 0; y < height; y++) {
    const row = y * rowLength;
    raw[row] = 0; // filter type None
    const gy = Math.floor((y * 255) / Math.max(1, height - 1));
    for (let x = 0; x < width; x++) {
      const gx = Math.floor((x * 255) / Math.max(1, width - 1));
      const at = row + 1 + x * 3;
      raw[at] = (r0 + gx) & 0xff;
      raw[at + 1] = (g0 + gy) & 0xff;
      raw[at + 2] = (b0 + ((gx + gy) >> 1)) & 0xff;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", deflateSync(raw, { level: 1 })),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A mono 16-bit PCM WAV of the given length: a quiet tone whose pitch derives from the seed. */
export function encodeWav(durationSeconds: number, sampleRate = 24000, seed = 0): Buffer {
  const samples = Math.max(1, Math.round(durationSeconds * sampleRate));
  const data = Buffer.alloc(samples * 2);
  const frequency = 220 + (seed % 440);
  for (let i = 0; i < samples; i++) {
    const value = Math.round(Math.sin((2 * Math.PI * frequency * i) / sampleRate) * 8000);
    data.writeInt16LE(value, i * 2);
  }
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(36 + data.length, 4);
  header.write("WAVE", 8, "ascii");
  header.write("fmt ", 12, "ascii");
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write("data", 36, "ascii");
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

function box(type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.write(type, 4, "ascii");
  return Buffer.concat([head, body]);
}

function fullBox(type: string, version: number, flags: number, ...payload: Buffer[]): Buffer {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), 0);
  return box(type, vf, ...payload);
}

const UNITY_MATRIX = (() => {
  const m = Buffer.alloc(36);
  m.writeUInt32BE(0x00010000, 0);
  m.writeUInt32BE(0x00010000, 16);
  m.writeUInt32BE(0x40000000, 32);
  return m;
})();

function uint32s(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

/**
 * A minimal ISO-BMFF (MP4) file: ftyp + moov (mvhd, one video trak with an empty sample table)
 * + an empty mdat. It parses as MP4 and declares the requested duration; it carries no decodable
 * frame (building an H.264 bitstream by hand is out of scope for the simulator).
 */
export function encodeMp4(durationSeconds: number, width = 1280, height = 720): Buffer {
  const timescale = 1000;
  const duration = Math.round(durationSeconds * timescale);
  const ftyp = box(
    "ftyp",
    Buffer.from("isom", "ascii"),
    uint32s(0x200),
    Buffer.from("isomiso2avc1mp41", "ascii"),
  );
  const mvhdBody = Buffer.concat([
    uint32s(0, 0, timescale, duration), // creation, modification, timescale, duration
    uint32s(0x00010000), // rate 1.0
    Buffer.from([0x01, 0x00, 0, 0]), // volume 1.0 + reserved
    Buffer.alloc(8), // reserved
    UNITY_MATRIX,
    Buffer.alloc(24), // pre_defined
    uint32s(2), // next track id
  ]);
  const mvhd = fullBox("mvhd", 0, 0, mvhdBody);
  const tkhd = fullBox(
    "tkhd",
    0,
    3, // enabled + in movie
    uint32s(0, 0, 1, 0, duration),
    Buffer.alloc(8),
    Buffer.alloc(8), // layer, alternate group, volume, reserved
    UNITY_MATRIX,
    uint32s(width << 16, height << 16),
  );
  const mdhd = fullBox(
    "mdhd",
    0,
    0,
    uint32s(0, 0, timescale, duration),
    Buffer.from([0x55, 0xc4, 0, 0]), // language "und"
  );
  const hdlr = fullBox(
    "hdlr",
    0,
    0,
    uint32s(0),
    Buffer.from("vide", "ascii"),
    Buffer.alloc(12),
    Buffer.from("VideoHandler\0", "ascii"),
  );
  const vmhd = fullBox("vmhd", 0, 1, Buffer.alloc(8));
  const dinf = box("dinf", fullBox("dref", 0, 0, uint32s(1), fullBox("url ", 0, 1)));
  const stbl = box(
    "stbl",
    fullBox("stsd", 0, 0, uint32s(0)),
    fullBox("stts", 0, 0, uint32s(0)),
    fullBox("stsc", 0, 0, uint32s(0)),
    fullBox("stsz", 0, 0, uint32s(0, 0)),
    fullBox("stco", 0, 0, uint32s(0)),
  );
  const trak = box("trak", tkhd, box("mdia", mdhd, hdlr, box("minf", vmhd, dinf, stbl)));
  return Buffer.concat([ftyp, box("moov", mvhd, trak), box("mdat")]);
}
