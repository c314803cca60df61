import { createInterface } from "node:readline/promises";
import { UserError } from "../lib/errors.js";
import { givenOptions, OPTION_DEFS, type OptionDef, type OptionSources } from "./input.js";
import { PRESET_TARGETS, type Preset, type ProjectAnswers, resolveAnswers } from "./options.js";

/**
 * Interactive questions for the options no other source set: one question per option, then the
 * workspace URL and catalog of each target of the chosen preset. Each question shows the default
 * (Enter keeps it) and is asked again, with the reason, when the answer is not valid.
 */

export interface PromptIO {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
}

const MAX_TRIES = 3;

/** The answers so far with defaults filled in (a placeholder name stands in until the real one is known). */
function defaults(data: Record<string, unknown>): ProjectAnswers | undefined {
  return resolveAnswers({ ...data, project_name: data.project_name ?? "project" }).answers;
}

function shown(v: unknown): string {
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "boolean") return v ? "yes" : "no";
  return v === undefined ? "" : String(v);
}

/** Asks for every option `sources` leave unset; returns the answers as prompted values for `resolveOptions`. */
export async function promptOptions(sources: OptionSources, io: PromptIO): Promise<[string[], unknown][]> {
  const rl = createInterface({ input: io.input, output: io.output, terminal: false });
  const answered: [string[], unknown][] = [];
  const lines = rl[Symbol.asyncIterator]();
  const ask: Ask = Object.assign(
    async (question: string): Promise<string> => {
      io.output.write(question);
      const next = await lines.next();
      if (next.done)
        throw new UserError("the input ended before every question was answered", "pass --no-input to take the defaults");
      return String(next.value).trim();
    },
    { say: (line: string) => void io.output.write(line) },
  );
  const current = () => givenOptions({ ...sources, prompted: answered });
  try {
    for (const def of OPTION_DEFS) {
      const data = current();
      if (data[def.key] !== undefined) continue;
      if (def.key === "host") continue; // asked per target below
      const value = await askOne(def, data, ask);
      if (value !== undefined) answered.push([[def.key], value]);
    }
    const data = current();
    const base = defaults(data);
    const preset = (base?.environments_preset ?? "staging_prod") as Preset;
    let previousHost = base?.targets[PRESET_TARGETS[preset][0]?.name ?? ""]?.host;
    for (const role of PRESET_TARGETS[preset]) {
      const given = (data.targets as Record<string, Record<string, unknown>> | undefined)?.[role.name] ?? {};
      if (given.host === undefined && data.host === undefined) {
        const host = await askValid(`${role.name}: workspace URL`, previousHost, ask, (v) =>
          problemFor(current(), [["targets", role.name, "host"], v]),
        );
        answered.push([["targets", role.name, "host"], host]);
        previousHost = host;
      }
      if (given.catalog === undefined) {
        const catalog = await askValid(`${role.name}: catalog`, base?.targets[role.name]?.catalog, ask, (v) =>
          problemFor(current(), [["targets", role.name, "catalog"], v]),
        );
        answered.push([["targets", role.name, "catalog"], catalog]);
      }
    }
  } finally {
    rl.close();
  }
  return answered;
}

async function askOne(def: OptionDef, data: Record<string, unknown>, ask: Ask): Promise<unknown> {
  const base = defaults(data) as unknown as Record<string, unknown> | undefined;
  const fallback = def.key === "project_name" ? undefined : shown(base?.[def.key]);
  const choices = def.values ? ` (${def.values.join(", ")})` : def.kind === "bool" ? " (yes, no)" : "";
  return askValid(`${def.help}${choices}`, fallback, ask, (v) => problemFor(data, [[def.key], v]), def.kind === "list");
}

type Ask = ((question: string) => Promise<string>) & { say: (line: string) => void };

async function askValid(
  label: string,
  fallback: string | undefined,
  ask: Ask,
  check: (v: string) => string | undefined,
  mayBeEmpty = false,
): Promise<string> {
  for (let i = 0; i < MAX_TRIES; i++) {
    const raw = await ask(`${label}${fallback ? ` [${fallback}]` : ""}: `);
    const value = raw === "" ? (fallback ?? "") : raw;
    if (value === "" && mayBeEmpty) return value;
    const problem = value === "" ? "an answer is required" : check(value);
    if (!problem) return value as string;
    ask.say(`  ${problem}\n`);
  }
  throw new UserError(`${label}: no valid answer after ${MAX_TRIES} tries`, "pass the option as a flag or in --options");
}

/** The problem an answer causes for its own field, if any. */
function problemFor(data: Record<string, unknown>, [path, value]: [string[], unknown]): string | undefined {
  const next = structuredClone(data);
  let obj = next as Record<string, unknown>;
  for (const seg of path.slice(0, -1)) {
    if (typeof obj[seg] !== "object" || obj[seg] === null) obj[seg] = {};
    obj = obj[seg] as Record<string, unknown>;
  }
  obj[path[path.length - 1] as string] = value;
  if (next.project_name === undefined) next.project_name = "project";
  const r = resolveAnswers(next);
  const mine = r.problems.find((p) => p.path.join(".") === path.join("."));
  return mine?.message;
}
