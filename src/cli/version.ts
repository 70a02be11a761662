/**
 * `consistency --version`: the package version and the libtorch the addon runs on (version,
 * whether it has CUDA and a visible GPU, intra-op threads), so a report names its engine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildInfo, getNumThreads } from '../tensor/device.js';

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('consistency: cannot find package.json');
    dir = up;
  }
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** CUDA runtime version as libtorch reports it (major * 1000 + minor * 10) in dotted form. */
function cudaVersion(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

/** The lines `consistency --version` prints. */
export function versionText(): string {
  const info = buildInfo();
  const threads = getNumThreads();
  const cuda = !info.cudaBuilt
    ? 'CPU only'
    : `CUDA ${cudaVersion(info.cudaRuntimeVersion)}, ${info.cudaDeviceCount} GPU${info.cudaDeviceCount === 1 ? '' : 's'} visible`;
  return [`consistency-ts ${packageVersion()}`, `libtorch ${info.torchVersion} (${cuda}), ${threads} thread${threads === 1 ? '' : 's'}`].join('\n');
}
