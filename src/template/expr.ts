/**
 * The condition language of template.yaml's `when:` — small on purpose:
 *   include_serving
 *   cicd == "github_actions" && !include_monitoring
 *   (compute == "job_clusters" || cloud != "azure")
 * Names are options; values are quoted strings, true, false or names. Operators: `!`, `==`, `!=`,
 * `&&`, `||` and parentheses, with the usual precedence.
 */

export type Expr =
  | { t: "lit"; value: string | boolean }
  | { t: "name"; name: string }
  | { t: "not"; e: Expr }
  | { t: "cmp"; op: "==" | "!="; a: Expr; b: Expr }
  | { t: "and" | "or"; a: Expr; b: Expr };

type Token = { t: "name" | "str" | "op"; v: string; at: number };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (["==", "!=", "&&", "||"].includes(two)) {
      out.push({ t: "op", v: two, at: i });
      i += 2;
      continue;
    }
    if ("!()".includes(ch)) {
      out.push({ t: "op", v: ch, at: i });
      i++;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const end = src.indexOf(ch, i + 1);
      if (end < 0) throw new Error(`unterminated string at column ${i + 1}`);
      out.push({ t: "str", v: src.slice(i + 1, end), at: i });
      i = end + 1;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (!m) throw new Error(`unexpected "${ch}" at column ${i + 1}`);
    out.push({ t: "name", v: m[0], at: i });
    i += m[0].length;
  }
  return out;
}

/** Parses a condition; throws an Error naming the column of the first problem. */
export function parseExpr(src: string): Expr {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = () => tokens[pos];
  const fail = (what: string): never => {
    const t = peek();
    throw new Error(t ? `${what} at column ${t.at + 1}` : `${what} at the end`);
  };
  const isOp = (v: string) => peek()?.t === "op" && peek()?.v === v;

  const primary = (): Expr => {
    const t = peek();
    if (!t) return fail("expected a name or a value");
    if (t.t === "op" && t.v === "(") {
      pos++;
      const e = or();
      if (!isOp(")")) fail('expected ")"');
      pos++;
      return e;
    }
    if (t.t === "str") {
      pos++;
      return { t: "lit", value: t.v };
    }
    if (t.t === "name") {
      pos++;
      if (t.v === "true" || t.v === "false") return { t: "lit", value: t.v === "true" };
      return { t: "name", name: t.v };
    }
    return fail(`unexpected "${t.v}"`);
  };
  const comparison = (): Expr => {
    const a = primary();
    const t = peek();
    if (t?.t === "op" && (t.v === "==" || t.v === "!=")) {
      pos++;
      return { t: "cmp", op: t.v, a, b: primary() };
    }
    return a;
  };
  const unary = (): Expr => {
    if (isOp("!")) {
      pos++;
      return { t: "not", e: unary() };
    }
    return comparison();
  };
  const and = (): Expr => {
    let a = unary();
    while (isOp("&&")) {
      pos++;
      a = { t: "and", a, b: unary() };
    }
    return a;
  };
  const or = (): Expr => {
    let a = and();
    while (isOp("||")) {
      pos++;
      a = { t: "or", a, b: and() };
    }
    return a;
  };
  const e = or();
  if (pos < tokens.length) fail(`unexpected "${peek()?.v}"`);
  return e;
}

/** The names a condition reads. */
export function namesOf(e: Expr): string[] {
  switch (e.t) {
    case "lit":
      return [];
    case "name":
      return [e.name];
    case "not":
      return namesOf(e.e);
    default:
      return [...namesOf(e.a), ...namesOf(e.b)];
  }
}

function value(e: Expr, vars: Record<string, unknown>): unknown {
  switch (e.t) {
    case "lit":
      return e.value;
    case "name":
      if (!(e.name in vars)) throw new Error(`unknown option "${e.name}"`);
      return vars[e.name];
    case "not":
      return !truthy(value(e.e, vars));
    case "cmp": {
      const equal = value(e.a, vars) === value(e.b, vars);
      return e.op === "==" ? equal : !equal;
    }
    case "and":
      return truthy(value(e.a, vars)) && truthy(value(e.b, vars));
    case "or":
      return truthy(value(e.a, vars)) || truthy(value(e.b, vars));
  }
}

const truthy = (v: unknown) => (Array.isArray(v) ? v.length > 0 : Boolean(v));

/** Evaluates a condition against the options. */
export function evaluate(e: Expr, vars: Record<string, unknown>): boolean {
  return truthy(value(e, vars));
}
