/** Opaque native handles. Only src/tensor/native.ts and the classes that own them see these. */
declare const tensorBrand: unique symbol;
declare const generatorBrand: unique symbol;

/** A libtorch tensor owned by JS (a Node-API External). */
export type TensorHandle = { readonly [tensorBrand]: true };
/** A libtorch random generator owned by JS (a Node-API External). */
export type GeneratorHandle = { readonly [generatorBrand]: true };
