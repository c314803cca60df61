/** Human output goes to stderr, coloured only on a TTY without NO_COLOR; machine output to stdout. */
export interface Output {
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  json(value: unknown): void;
  bold(text: string): string;
  dim(text: string): string;
}

export function createOutput(stream: NodeJS.WriteStream = process.stderr, stdout: NodeJS.WriteStream = process.stdout): Output {
  const colour = stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  const wrap = (code: string, text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
  return {
    info: (line) => stream.write(`${line}\n`),
    warn: (line) => stream.write(`${wrap("33", "warning:")} ${line}\n`),
    error: (line) => stream.write(`${wrap("31", "error:")} ${line}\n`),
    json: (value) => stdout.write(`${JSON.stringify(value)}\n`),
    bold: (text) => wrap("1", text),
    dim: (text) => wrap("2", text),
  };
}
