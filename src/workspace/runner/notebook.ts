/**
 * Source notebooks as programs: cells split on `# COMMAND ----------`, magic cells (`# MAGIC %...`)
 * turned into what the task process runs. `%pip install` lines become requirements of the run's
 * environment, `%run ./other` includes the other notebook's cells in place, `%md` cells are skipped,
 * `%sql` and `%sh` cells are run by the task process.
 */

export interface Cell {
  kind: "python" | "sql" | "sh";
  source: string;
  /** `<notebook path> cell <n>`, for tracebacks. */
  origin: string;
}

export interface NotebookProgram {
  cells: Cell[];
  /** Requirement lines from `%pip install` cells, in order. */
  pip: string[];
  /** Notebooks included with `%run`, in order of first inclusion. */
  included: string[];
}

/** Reads a notebook's source text (with or without header) by absolute workspace path; undefined when missing. */
export type NotebookReader = (path: string) => { source: string; language: string } | undefined;

export class NotebookError extends Error {}

const HEADER = /^# Databricks notebook source[^\n]*\n?/;
const SEPARATOR = /^# COMMAND -{10,}\s*$/m;
const MAX_RUN_DEPTH = 20;

/** Splits a Python source notebook into cells (magic prefixes kept). */
export function splitCells(source: string): string[] {
  const text = source
    .replace(/^\uFEFF/, "")
    .replace(/\r\n/g, "\n")
    .replace(HEADER, "");
  return text
    .split(SEPARATOR)
    .map((c) => c.replace(/^\n+|\s+$/g, ""))
    .filter((c) => c.trim() !== "");
}

/** A cell whose lines are all `# MAGIC ...` as its magic text (prefix stripped), else undefined. */
function magicText(cell: string): string | undefined {
  const lines = cell.split("\n");
  if (!lines.every((l) => l.startsWith("# MAGIC") || l.trim() === "")) return undefined;
  if (!lines[0]?.startsWith("# MAGIC")) return undefined;
  return lines.map((l) => l.replace(/^# MAGIC ?/, "")).join("\n");
}

/** Resolves `target` of `%run target` against the folder of `from` (both absolute workspace paths). */
export function resolveRunPath(from: string, target: string): string {
  const base = target.startsWith("/") ? [] : from.split("/").slice(0, -1);
  for (const seg of target.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") base.pop();
    else base.push(seg);
  }
  let path = `/${base.filter((s) => s !== "").join("/")}`;
  if (path.startsWith("/Workspace/")) path = path.slice("/Workspace".length);
  return path.replace(/\.py$/, "");
}

function pipRequirements(args: string): string[] {
  // `%pip install a b==1 -r reqs.txt --quiet`: keep packages and -r/-e pairs, drop pip's own flags.
  const tokens = args.trim().split(/\s+/).filter(Boolean);
  if (tokens[0] !== "install") throw new NotebookError(`only %pip install is supported, got %pip ${args.trim()}`);
  const out: string[] = [];
  for (let i = 1; i < tokens.length; i++) {
    const t = tokens[i] as string;
    if (t === "-r" || t === "--requirement" || t === "-e" || t === "--editable") {
      const next = tokens[++i];
      if (next) out.push(`${t} ${next}`);
    } else if (t === "-q" || t === "--quiet" || t === "-U" || t === "--upgrade" || t === "--no-deps") {
    } else if (t.startsWith("-")) {
      // other pip options are ignored
    } else {
      out.push(t.replace(/^["']|["']$/g, ""));
    }
  }
  return out;
}

/** The program of the notebook at `path`, with `%run` includes resolved through `read`. */
export function notebookProgram(path: string, read: NotebookReader): NotebookProgram {
  const program: NotebookProgram = { cells: [], pip: [], included: [] };
  const visit = (nbPath: string, stack: string[]) => {
    if (stack.length > MAX_RUN_DEPTH) throw new NotebookError(`%run nesting deeper than ${MAX_RUN_DEPTH} at ${nbPath}`);
    if (stack.includes(nbPath)) throw new NotebookError(`%run cycle: ${[...stack, nbPath].join(" -> ")}`);
    const nb = read(nbPath);
    if (!nb) {
      throw new NotebookError(
        stack.length === 0 ? `Notebook not found: ${nbPath}` : `Notebook not found: ${nbPath} (%run in ${stack.at(-1)})`,
      );
    }
    if (nb.language !== "PYTHON") throw new NotebookError(`Only Python notebooks can run locally; ${nbPath} is ${nb.language}`);
    const cells = splitCells(nb.source);
    cells.forEach((cell, i) => {
      const origin = `${nbPath} cell ${i + 1}`;
      const magic = magicText(cell);
      if (magic === undefined) {
        program.cells.push({ kind: "python", source: cell, origin });
        return;
      }
      const m = /^%(\w+)\s*([\s\S]*)$/.exec(magic.trimStart());
      const name = m?.[1] ?? "";
      const rest = m?.[2] ?? "";
      switch (name) {
        case "md":
        case "md-sandbox":
          return;
        case "pip":
          program.pip.push(...pipRequirements(rest));
          return;
        case "run": {
          const target = rest.trim().split(/\s+/)[0];
          if (!target) throw new NotebookError(`%run without a notebook path in ${origin}`);
          const resolved = resolveRunPath(nbPath, target.replace(/^["']|["']$/g, ""));
          if (!program.included.includes(resolved)) program.included.push(resolved);
          visit(resolved, [...stack, nbPath]);
          return;
        }
        case "python":
          program.cells.push({ kind: "python", source: rest, origin });
          return;
        case "sql":
          program.cells.push({ kind: "sql", source: rest, origin });
          return;
        case "sh":
          program.cells.push({ kind: "sh", source: rest, origin });
          return;
        default:
          throw new NotebookError(`%${name} cells cannot run locally (${origin})`);
      }
    });
  };
  visit(path, []);
  return program;
}
