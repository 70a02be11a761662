/**
 * CRC-32 (ISO-HDLC, polynomial 0xEDB88320 reflected), as used by zip, gzip and PNG: node:zlib's
 * (Node >= 20.15), so the project keeps no table of its own.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

/**
 * Updates a running CRC-32 with `bytes`. Start with `crc = 0`; the result is the final CRC of all
 * bytes seen so far (unsigned), so calls chain: crc32(b, crc32(a)) === crc32(a ++ b).
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  return zlibCrc32(bytes, crc);
}
