/** Devices ('cpu', 'cuda', 'cuda:N') and the default device new tensors go to. */
import { native, type BuildInfo } from './native.js';

export type Device = string;

let defaultDevice: Device = 'cpu';

/** The device that creation functions use when none is given. */
export function getDefaultDevice(): Device {
  return defaultDevice;
}

/** Sets the default device; 'cuda' needs a libtorch with CUDA and a visible GPU. */
export function setDefaultDevice(device: Device): void {
  checkDevice(device);
  defaultDevice = device;
}

/** Throws a clear error for a device this libtorch cannot use. */
export function checkDevice(device: Device): void {
  if (device === 'cpu') return;
  if (!/^cuda(:\d+)?$/.test(device)) throw new TypeError(`device must be 'cpu', 'cuda' or 'cuda:N', got '${device}'`);
  if (!cudaAvailable())
    throw new Error(`device '${device}' asked for, but this libtorch (${native.buildInfo().torchVersion}) has no CUDA or no GPU is visible`);
}

/** Facts about the libtorch the addon was built against (version, CUDA, threading, heap tuning). */
export function buildInfo(): BuildInfo {
  return native.buildInfo();
}

/** True when the addon's libtorch has CUDA and a GPU is visible. */
export function cudaAvailable(): boolean {
  return native.buildInfo().cuda;
}

/**
 * Whether cuDNN's float32 convolutions may use TF32 (torch.backends.cudnn.allow_tf32; default true,
 * as in PyTorch); returns the previous value. TF32 keeps 10 bits of mantissa: turn it off to get
 * float32 results (the CUDA tests compare against float64 references).
 */
export function setAllowTF32CuDNN(allow: boolean): boolean {
  return native.setAllowTF32CuDNN(allow);
}

/** Waits for queued GPU work (for timing); a no-op on CPU-only builds. */
export function synchronize(): void {
  native.cudaSynchronize();
}

/** Sets libtorch's intra-op thread count. */
export function setNumThreads(threads: number): void {
  native.setNumThreads(threads);
}

export function getNumThreads(): number {
  return native.getNumThreads();
}
