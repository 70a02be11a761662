/** CRC-32 (ISO-HDLC, polynomial 0xEDB88320 reflected), as used by PNG chunks, zip and gzip. */

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * Updates a running CRC-32 with `bytes`. Start with `crc = 0`; the result is the final CRC of all
 * bytes seen so far (unsigned), so calls chain: crc32(b, crc32(a)) === crc32(a ++ b).
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
