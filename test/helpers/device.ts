/**
 * Which device the device-aware tests (ops, networks, the dropout-mask sharing of the loss) run
 * on: $CONSISTENCY_TEST_DEVICE, 'cpu' (default) or 'cuda'. Their Python references read the same
 * variable (runPythonScript passes the environment on) and compute on the same device.
 * With 'cuda' on a machine whose libtorch sees no GPU, those tests skip with `cudaSkip`'s reason
 * (the only skip the suite has); any other value is an error that stops the test file.
 */
import { cudaAvailable } from '../../src/tensor/device.js';
import { native } from '../../src/tensor/native.js';

export type TestDevice = 'cpu' | 'cuda';

/** $CONSISTENCY_TEST_DEVICE, checked. */
export function testDevice(env: NodeJS.ProcessEnv = process.env): TestDevice {
  const v = env['CONSISTENCY_TEST_DEVICE'];
  if (v === undefined || v === '' || v === 'cpu') return 'cpu';
  if (v === 'cuda') return 'cuda';
  throw new Error(`CONSISTENCY_TEST_DEVICE must be 'cpu' or 'cuda', got '${v}'`);
}

/**
 * false when the tests can run on `device`; otherwise the reason they skip (node:test's `skip`
 * option takes it): CUDA asked for, but this libtorch has no CUDA or sees no GPU.
 */
export function cudaSkip(device: TestDevice = testDevice()): false | string {
  if (device === 'cpu' || cudaAvailable()) return false;
  const info = native.buildInfo();
  return `CONSISTENCY_TEST_DEVICE=cuda, but libtorch ${info.torchVersion} here ${info.cudaBuilt ? 'sees no GPU' : 'is built without CUDA'}`;
}
