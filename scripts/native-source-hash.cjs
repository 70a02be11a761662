// The fingerprint of the addon's sources: sha256 over every native/*.cc and native/*.h (the files
// the package ships), sorted by name, each as its name, a NUL, its bytes, a NUL.
// scripts/build-native.mjs compiles it into the addon (CTS_SOURCE_HASH, exported as `sourceHash`)
// and src/tensor/native.ts recomputes it at load, so an addon built from other sources is refused.
// CommonJS, so that both the build script (before any TypeScript is compiled) and the compiled
// loader can require it.
'use strict';
const { createHash } = require('node:crypto');
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

/** @param {string} dir the native/ folder @returns {string} the hex digest */
function nativeSourceHash(dir) {
  const h = createHash('sha256');
  for (const name of readdirSync(dir)
    .filter((n) => /\.(cc|h)$/.test(n))
    .sort()) {
    h.update(name);
    h.update('\0');
    h.update(readFileSync(join(dir, name)));
    h.update('\0');
  }
  return h.digest('hex');
}

module.exports = { nativeSourceHash };
