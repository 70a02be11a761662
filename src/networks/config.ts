/**
 * Configurations of the two U-Nets (JSON-serializable; test/reference/networks_ref.py reads the
 * same objects). Field names follow EDM's constructor arguments in camelCase.
 */

/** Fields both architectures share. */
interface CommonConfig {
  /** Input and output images are imgResolution x imgResolution (a power of 2 multiple of 2^(levels-1)). */
  imgResolution: number;
  inChannels: number;
  outChannels: number;
  /** Number of classes for class conditioning; 0 = unconditional. */
  labelDim: number;
  /** Base channel count. */
  modelChannels: number;
  /** Channel multiplier per resolution level (level i runs at imgResolution / 2^i). */
  channelMult: number[];
  /** The conditioning vector has modelChannels * channelMultEmb channels. */
  channelMultEmb: number;
  /** Residual blocks per resolution in the encoder (the decoder has one more). */
  numBlocks: number;
  /** Resolutions whose blocks have self-attention. */
  attnResolutions: number[];
  /** Dropout probability inside residual blocks. */
  dropout: number;
  /** Apply dropout only in blocks whose output resolution is <= this (null: everywhere). */
  dropoutMaxResolution: number | null;
}

/** NCSN++ / DDPM++ (Song et al. 2021) as EDM's SongUNet. */
export interface SongUNetConfig extends CommonConfig {
  architecture: 'song';
  /** 'fourier' (NCSN++) or 'positional' (DDPM++) noise embedding. */
  embeddingType: 'fourier' | 'positional';
  /** Standard deviation of the Fourier frequencies (NCSN++ default 16; iCT 0.02, docs/method.md section 5). */
  fourierScale: number;
  /** The noise embedding has modelChannels * channelMultNoise channels (NCSN++ 2, DDPM++ 1). */
  channelMultNoise: number;
  /** 'residual' (NCSN++): a second, progressively downsampled input path; 'skip': resampled input added; 'standard': none. */
  encoderType: 'standard' | 'skip' | 'residual';
  /** 'standard': output from the last level only; 'skip': outputs of every level upsampled and summed. */
  decoderType: 'standard' | 'skip';
  /** FIR taps for up/downsampling (NCSN++ [1, 3, 3, 1]; DDPM++ [1, 1]). */
  resampleFilter: number[];
}

/** ADM (Dhariwal & Nichol 2021) as EDM's DhariwalUNet. */
export interface DhariwalUNetConfig extends CommonConfig {
  architecture: 'adm';
  /** Attention heads have this many channels each (64). */
  channelsPerHead: number;
}

export type NetworkConfig = SongUNetConfig | DhariwalUNetConfig;

/** Checks a configuration; throws a RangeError naming the first bad field. */
export function validateNetworkConfig(c: NetworkConfig): void {
  const fail = (field: string, want: string, got: unknown): never => {
    throw new RangeError(`network config: ${field} must be ${want}, got ${JSON.stringify(got)}`);
  };
  const posInt = (field: string, v: unknown, min = 1) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(field, `an integer >= ${min}`, v);
  };
  const architecture: string = c.architecture; // a config read from JSON may hold anything
  if (architecture !== 'song' && architecture !== 'adm') fail('architecture', "'song' or 'adm'", (c as { architecture: unknown }).architecture);
  posInt('imgResolution', c.imgResolution);
  posInt('inChannels', c.inChannels);
  posInt('outChannels', c.outChannels);
  posInt('labelDim', c.labelDim, 0);
  posInt('modelChannels', c.modelChannels);
  posInt('channelMultEmb', c.channelMultEmb);
  posInt('numBlocks', c.numBlocks);
  if (!Array.isArray(c.channelMult) || c.channelMult.length === 0) fail('channelMult', 'a non-empty array of positive integers', c.channelMult);
  c.channelMult.forEach((m, i) => posInt(`channelMult[${i}]`, m));
  const lowest = c.imgResolution >> (c.channelMult.length - 1);
  if (lowest < 1 || lowest << (c.channelMult.length - 1) !== c.imgResolution)
    fail('imgResolution', `divisible by 2^${c.channelMult.length - 1} (one halving per level after the first)`, c.imgResolution);
  if (!Array.isArray(c.attnResolutions)) fail('attnResolutions', 'an array of resolutions', c.attnResolutions);
  if (typeof c.dropout !== 'number' || !(c.dropout >= 0 && c.dropout < 1)) fail('dropout', 'a number in [0, 1)', c.dropout);
  if (c.dropoutMaxResolution !== null) posInt('dropoutMaxResolution', c.dropoutMaxResolution);
  if (c.architecture === 'song') {
    const embeddingType: string = c.embeddingType;
    if (embeddingType !== 'fourier' && embeddingType !== 'positional') fail('embeddingType', "'fourier' or 'positional'", embeddingType);
    if (c.embeddingType === 'fourier' && !(c.fourierScale > 0 && Number.isFinite(c.fourierScale)))
      fail('fourierScale', 'a finite number > 0', c.fourierScale);
    posInt('channelMultNoise', c.channelMultNoise);
    if (!['standard', 'skip', 'residual'].includes(c.encoderType)) fail('encoderType', "'standard', 'skip' or 'residual'", c.encoderType);
    if (!['standard', 'skip'].includes(c.decoderType)) fail('decoderType', "'standard' or 'skip'", c.decoderType);
    if (!Array.isArray(c.resampleFilter) || c.resampleFilter.length < 1 || !c.resampleFilter.every((v) => Number.isFinite(v)))
      fail('resampleFilter', 'a non-empty array of finite numbers', c.resampleFilter);
    if (c.resampleFilter.length % 2 !== 0) fail('resampleFilter', 'of even length (2x resampling keeps the image centered)', c.resampleFilter);
  } else {
    posInt('channelsPerHead', c.channelsPerHead);
  }
}

/** The dropout probability of a block whose output has resolution `res`. */
export function blockDropout(c: NetworkConfig, res: number): number {
  return c.dropoutMaxResolution === null || res <= c.dropoutMaxResolution ? c.dropout : 0;
}
