/**
 * A JSON reader that remembers where every value is: `loc(path)` gives the 1-based line and column of
 * the member (its key) or array item at `path`. Malformed text is reported with the line and column
 * of the first offending character. Accepts a leading byte-order mark and CRLF line ends, as written
 * by PowerShell's `ConvertTo-Json`. Duplicate keys keep the last value, as `JSON.parse` does.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonPath = readonly (string | number)[];

export interface Position {
  line: number;
  col: number;
}

export interface LocatedJson {
  value: JsonValue;
  /** Where the value at `path` is written (for an object member: its key); the nearest parent's position when unknown. */
  loc(path: JsonPath): Position;
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly col: number,
  ) {
    super(message);
    this.name = "JsonSyntaxError";
  }
}

const pathKey = (path: JsonPath) => JSON.stringify(path);

export function parseLocatedJson(input: string): LocatedJson {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const positions = new Map<string, number>();
  let i = 0;

  const position = (offset: number): Position => {
    let line = 1;
    let start = 0;
    for (let k = 0; k < offset && k < text.length; k++) {
      if (text.charCodeAt(k) === 10) {
        line++;
        start = k + 1;
      }
    }
    return { line, col: offset - start + 1 };
  };

  const fail = (message: string, at = i): never => {
    const p = position(at);
    throw new JsonSyntaxError(message, p.line, p.col);
  };

  const describe = (at: number) => (at >= text.length ? "the end of the file" : `'${text[at]}'`);

  const skip = () => {
    while (i < text.length) {
      const c = text[i];
      if (c === " " || c === "\t" || c === "\n" || c === "\r") i++;
      else break;
    }
  };

  const expect = (c: string, what: string) => {
    skip();
    if (text[i] !== c) fail(`expected ${what}, found ${describe(i)}`);
    i++;
  };

  const parseString = (): string => {
    const start = i;
    i++; // opening quote
    let out = "";
    for (;;) {
      if (i >= text.length) fail("unterminated string", start);
      const c = text[i] as string;
      if (c === '"') {
        i++;
        return out;
      }
      if (c === "\\") {
        const e = text[i + 1];
        const simple: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
        if (e !== undefined && simple[e] !== undefined) {
          out += simple[e];
          i += 2;
        } else if (e === "u") {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("invalid \\u escape in a string");
          out += String.fromCharCode(Number.parseInt(hex, 16));
          i += 6;
        } else fail("invalid escape in a string");
        continue;
      }
      if (c.charCodeAt(0) < 0x20) fail("control character in a string (escape it)");
      out += c;
      i++;
    }
  };

  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

  const parseValue = (path: (string | number)[]): JsonValue => {
    skip();
    if (i >= text.length) fail("expected a value, found the end of the file");
    const c = text[i];
    if (c === "{") {
      i++;
      const obj: { [key: string]: JsonValue } = {};
      skip();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      for (;;) {
        skip();
        if (text[i] !== '"') fail(`expected a property name in double quotes, found ${describe(i)}`);
        const keyAt = i;
        const key = parseString();
        positions.set(pathKey([...path, key]), keyAt);
        expect(":", "':' after a property name");
        obj[key] = parseValue([...path, key]);
        skip();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return obj;
        }
        fail(`expected ',' or '}' after a property value, found ${describe(i)}`);
      }
    }
    if (c === "[") {
      i++;
      const arr: JsonValue[] = [];
      skip();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      for (;;) {
        skip();
        positions.set(pathKey([...path, arr.length]), i);
        arr.push(parseValue([...path, arr.length]));
        skip();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return arr;
        }
        fail(`expected ',' or ']' after an array item, found ${describe(i)}`);
      }
    }
    if (c === '"') return parseString();
    for (const [word, value] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m && m[0] !== "" && m[0] !== "-") {
      i += m[0].length;
      return Number(m[0]);
    }
    return fail(`expected a value, found ${describe(i)}`);
  };

  skip();
  positions.set(pathKey([]), i);
  const value = parseValue([]);
  skip();
  if (i < text.length) fail(`unexpected ${describe(i)} after the end of the JSON value`);

  return {
    value,
    loc(path) {
      for (let n = path.length; n >= 0; n--) {
        const at = positions.get(pathKey(path.slice(0, n)));
        if (at !== undefined) return position(at);
      }
      return { line: 1, col: 1 };
    },
  };
}
