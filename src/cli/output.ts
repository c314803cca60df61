import type { RenderStyle } from "../engine/render.js";
import { redact } from "../lib/secret.js";

/**
 * Human output goes to stderr, coloured only on a TTY without NO_COLOR; machine output to stdout.
 * Every line is passed through `redact`, so a secret value known to the process never reaches the terminal.
 */
export interface Output {
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  json(value: unknown): void;
  bold(text: string): string;
  dim(text: string): string;
  style: RenderStyle;
}

export function createOutput(stream: NodeJS.WriteStream = process.stderr, stdout: NodeJS.WriteStream = process.stdout): Output {
  const colour = stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  const wrap = (code: string, text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
  const style: RenderStyle = {
    bold: (s) => wrap("1", s),
    dim: (s) => wrap("2", s),
    green: (s) => wrap("32", s),
    yellow: (s) => wrap("33", s),
    red: (s) => wrap("31", s),
  };
  const write = (s: NodeJS.WriteStream, text: string) => s.write(redact(text));
  return {
    info: (line) => write(stream, `${line}\n`),
    warn: (line) => write(stream, `${style.yellow("warning:")} ${line}\n`),
    error: (line) => write(stream, `${style.red("error:")} ${line}\n`),
    json: (value) => write(stdout, `${JSON.stringify(value)}\n`),
    bold: style.bold,
    dim: style.dim,
    style,
  };
}
