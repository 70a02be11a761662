/**
 * The tensor layer's door to native/distributed.cc (libtorch's c10d): thin wrappers that take
 * Tensors, so src/distributed never touches the addon (test/source-layers). Every call is
 * guarded natively; a failure is an Error naming the call.
 */
import { native, type DistGroupHandle, type DistReducerHandle, type DistributedOps } from './native.js';
import type { Tensor } from './tensor.js';

export type { DistGroupHandle, DistReducerHandle };

const handles = (tensors: readonly Tensor[]) => tensors.map((t) => t.handle);

/** Whether the addon was built with c10d, and which backends. */
export function c10dSupport(): { c10d: boolean; gloo: boolean; nccl: boolean } {
  return native.distInfo();
}

/** Joins the process group; the arguments are those of the native entry point (DistributedOps.distInit in ./native.ts). */
export function c10dInit(...args: Parameters<DistributedOps['distInit']>): DistGroupHandle {
  return native.distInit(...args);
}

export function c10dClose(group: DistGroupHandle): void {
  native.distClose(group);
}

export function c10dStoreSet(group: DistGroupHandle, key: string, value: string): void {
  native.distStoreSet(group, key, value);
}

export function c10dStoreGet(group: DistGroupHandle, key: string): string {
  return native.distStoreGet(group, key);
}

export function c10dBroadcast(group: DistGroupHandle, tensors: readonly Tensor[], root: number): void {
  native.distBroadcast(group, handles(tensors), root);
}

export function c10dAllReduceSum(group: DistGroupHandle, tensors: readonly Tensor[]): void {
  native.distAllReduceSum(group, handles(tensors));
}

export function c10dBarrier(group: DistGroupHandle): void {
  native.distBarrier(group);
}

export function c10dReducerNew(group: DistGroupHandle, params: readonly Tensor[], bucketCapBytes: number): DistReducerHandle {
  return native.distReducerNew(group, handles(params), bucketCapBytes);
}

export function c10dReducerArm(reducer: DistReducerHandle): void {
  native.distReducerArm(reducer);
}

export function c10dReducerFinish(reducer: DistReducerHandle): void {
  native.distReducerFinish(reducer);
}

export function c10dReducerBuckets(reducer: DistReducerHandle): number[][] {
  return native.distReducerBuckets(reducer);
}

export function c10dReducerClose(reducer: DistReducerHandle): void {
  native.distReducerClose(reducer);
}
