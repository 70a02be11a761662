/**
 * Which device the device-aware tests (ops, networks, the dropout-mask sharing of the loss) run
 * on: $CONSISTENCY_TEST_DEVICE, 'cpu' (default) or 'cuda'. Their Python references read the same
 * variable (runPythonScript passes the environment on) and compute on the same device.
 * With 'cuda' on a machine whose libtorch sees no GPU, those tests skip with `cudaSkip`'s reason
 * (the only skip the suite has); any other value is an error that stops the test file.
 * TF32 is off on CUDA on both sides (see testDevice).
 */
import { cudaAvailable, setAllowTF32CuDNN } from '../../src/tensor/device.js';
import { native } from '../../src/tensor/native.js';

export type TestDevice = 'cpu' | 'cuda';

/**
 * $CONSISTENCY_TEST_DEVICE, checked. On CUDA (with a GPU) it also turns off TF32 for cuDNN's
 * float32 convolutions, as the Python references do (torch.backends.cudnn.allow_tf32 = False):
 * the comparisons hold float32 tolerances.
 */
export function testDevice(env: NodeJS.ProcessEnv = process.env): TestDevice {
  const v = env['CONSISTENCY_TEST_DEVICE'];
  if (v === undefined || v === '' || v === 'cpu') return 'cpu';
  if (v === 'cuda') {
    if (cudaAvailable()) setAllowTF32CuDNN(false);
    return 'cuda';
  }
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
