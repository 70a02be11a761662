/** Opaque native handles. Only src/tensor/native.ts and the classes that own them see these. */
declare const tensorBrand: unique symbol;
declare const generatorBrand: unique symbol;

/**
 * A libtorch tensor owned by JS: a number naming a slot of the addon's tensor table (see
 * native/binding.cc, "Tensor handles"). Only the addon makes them; only a Tensor holds one.
 */
export type TensorHandle = number & { readonly [tensorBrand]: true };
/** A libtorch random generator owned by JS (a Node-API External). */
export type GeneratorHandle = { readonly [generatorBrand]: true };
