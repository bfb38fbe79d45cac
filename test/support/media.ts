import { Buffer } from "node:buffer";
import { inflateSync } from "node:zlib";
import { crc32 } from "./runpod-sim/media-encode.ts";

/** Small validators for generated media in tests. Each throws on a malformed file. */

export interface PngInfo {
  width: number;
  height: number;
  bitDepth: number;
  colourType: number;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CHANNELS_BY_COLOUR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Checks signature, chunk CRCs, IEND and (for 8-bit images) the inflated pixel data size. */
export function parsePng(input: Uint8Array): PngInfo {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error("not a PNG");
  let offset = 8;
  let info: PngInfo | undefined;
  const idat: Buffer[] = [];
  let ended = false;
  while (offset + 12 <= buf.length) {
    const length = buf.readUInt32BE(offset);
    const type = buf.toString("ascii", offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (end > buf.length) throw new Error(`PNG chunk ${type} truncated`);
    const expected = buf.readUInt32BE(offset + 8 + length);
    if (crc32(buf.subarray(offset + 4, offset + 8 + length)) !== expected) {
      throw new Error(`PNG chunk ${type} has a bad CRC`);
    }
    const data = buf.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      info = {
        width: data.readUInt32BE(0),
        height: data.readUInt32BE(4),
        bitDepth: data[8],
        colourType: data[9],
      };
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") {
      ended = true;
      break;
    }
    offset = end;
  }
  if (!info) throw new Error("PNG has no IHDR");
  if (!ended) throw new Error("PNG has no IEND");
  if (idat.length === 0) throw new Error("PNG has no IDAT");
  const channels = CHANNELS_BY_COLOUR_TYPE[info.colourType];
  if (info.bitDepth === 8 && channels) {
    const pixels = inflateSync(Buffer.concat(idat));
    const expectedBytes = (1 + info.width * channels) * info.height;
    if (pixels.length !== expectedBytes) {
      throw new Error(`PNG pixel data is ${pixels.length} bytes, expected ${expectedBytes}`);
    }
  }
  return info;
}

export interface WavInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  durationSeconds: number;
}

export function parseWav(input: Uint8Array): WavInfo {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.toString("ascii", 0, 4) !== "RIFF" || buf.toString("ascii", 8, 12) !== "WAVE") {
    throw new Error("not a RIFF/WAVE file");
  }
  let offset = 12;
  let format: Omit<WavInfo, "durationSeconds"> | undefined;
  let dataBytes: number | undefined;
  while (offset + 8 <= buf.length) {
    const id = buf.toString("ascii", offset, offset + 4);
    const size = buf.readUInt32LE(offset + 4);
    if (id === "fmt ") {
      if (buf.readUInt16LE(offset + 8) !== 1) throw new Error("WAV is not PCM");
      format = {
        channels: buf.readUInt16LE(offset + 10),
        sampleRate: buf.readUInt32LE(offset + 12),
        bitsPerSample: buf.readUInt16LE(offset + 22),
      };
    } else if (id === "data") {
      dataBytes = size;
      if (offset + 8 + size > buf.length) throw new Error("WAV data chunk truncated");
    }
    offset += 8 + size + (size % 2);
  }
  if (!format) throw new Error("WAV has no fmt chunk");
  if (dataBytes === undefined) throw new Error("WAV has no data chunk");
  const bytesPerSecond = format.sampleRate * format.channels * (format.bitsPerSample / 8);
  return { ...format, durationSeconds: dataBytes / bytesPerSecond };
}

export interface Mp4Info {
  majorBrand: string;
  brands: string[];
  durationSeconds: number;
  topLevelBoxes: string[];
}

export function parseMp4(input: Uint8Array): Mp4Info {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const top = boxes(buf, 0, buf.length);
  const ftyp = top.find((b) => b.type === "ftyp");
  const moov = top.find((b) => b.type === "moov");
  if (!ftyp || top[0].type !== "ftyp") throw new Error("MP4 must start with an ftyp box");
  if (!moov) throw new Error("MP4 has no moov box");
  const majorBrand = buf.toString("ascii", ftyp.start, ftyp.start + 4);
  const brands = [majorBrand];
  for (let at = ftyp.start + 8; at + 4 <= ftyp.end; at += 4) {
    brands.push(buf.toString("ascii", at, at + 4));
  }
  const mvhd = boxes(buf, moov.start, moov.end).find((b) => b.type === "mvhd");
  if (!mvhd) throw new Error("MP4 moov has no mvhd box");
  const version = buf[mvhd.start];
  let timescale: number, duration: number;
  if (version === 1) {
    timescale = buf.readUInt32BE(mvhd.start + 20);
    duration = Number(buf.readBigUInt64BE(mvhd.start + 24));
  } else {
    timescale = buf.readUInt32BE(mvhd.start + 12);
    duration = buf.readUInt32BE(mvhd.start + 16);
  }
  if (!timescale) throw new Error("MP4 mvhd has a zero timescale");
  return {
    majorBrand,
    brands: [...new Set(brands)],
    durationSeconds: duration / timescale,
    topLevelBoxes: top.map((b) => b.type),
  };
}

interface Box {
  type: string;
  start: number; // payload start
  end: number;
}

function boxes(buf: Buffer, from: number, to: number): Box[] {
  const out: Box[] = [];
  let offset = from;
  while (offset + 8 <= to) {
    let size = buf.readUInt32BE(offset);
    const type = buf.toString("ascii", offset + 4, offset + 8);
    let header = 8;
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(offset + 8));
      header = 16;
    } else if (size === 0) size = to - offset;
    if (size < header || offset + size > to) throw new Error(`MP4 box ${type} has a bad size`);
    out.push({ type, start: offset + header, end: offset + size });
    offset += size;
  }
  if (offset !== to) throw new Error("MP4 has trailing bytes");
  return out;
}
