/** Small helpers for writing YAML by hand, deterministically, with comments. */

const PLAIN = /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/;
const KEYWORDS = /^(true|false|yes|no|on|off|null|y|n|~)$/i;
const NUMBER = /^[-+]?(\d[\d_]*)?(\.\d+)?([eE][-+]?\d+)?$|^0x[0-9a-fA-F]+$|^0o[0-7]+$/;

/** A YAML scalar for `value`: plain when that reads back as the same string, double-quoted otherwise. */
export function q(value: string): string {
  if (PLAIN.test(value) && !KEYWORDS.test(value) && !NUMBER.test(value)) return value;
  return JSON.stringify(value);
}

/** A single-quoted string literal inside an expression (`'release/'`). */
export function lit(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Indents every non-empty line of `text` by `n` spaces. */
export function indent(text: string, n: number): string {
  const pad = " ".repeat(n);
  return text
    .split("\n")
    .map((l) => (l === "" ? l : pad + l))
    .join("\n");
}

/** `lines` joined, dropping `undefined`/`false` entries (optional lines), with a final newline. */
export function lines(...parts: (string | undefined | false)[]): string {
  return `${parts.filter((p): p is string => typeof p === "string").join("\n")}\n`;
}

/** A YAML block scalar (`|`) holding a shell script, indented under its key by `n` spaces. */
export function block(script: string, n: number): string {
  return `|\n${indent(script.replace(/\n+$/, ""), n)}`;
}
