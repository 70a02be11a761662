/**
 * Error messages of the readers of outside data quote what they read (member names, tensor names,
 * pickle opcodes, header text); a file can put line breaks and terminal control codes there. The
 * typed errors pass their messages through oneLine, so every refusal stays one printable line.
 */

/** `text` with control characters (C0, DEL, C1, the Unicode line and paragraph separators) written as escapes. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
