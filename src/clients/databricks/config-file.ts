import { existsSync, readFileSync } from "node:fs";
import { UserError } from "../../lib/errors.js";

/**
 * `~/.databrickscfg`: an INI file of profiles, as the Databricks CLI and SDKs write it.
 *
 * ```ini
 * [DEFAULT]
 * host  = https://adb-1234.5.azuredatabricks.net
 * token = dapi...
 *
 * [uat]
 * host          = https://adb-5678.9.azuredatabricks.net
 * client_id     = 00000000-0000-0000-0000-000000000000
 * client_secret = dose...
 *
 * [__settings__]
 * default_profile = uat
 * ```
 *
 * Keys are lower-cased, values trimmed; `#` and `;` start a comment at the start of a line or after
 * whitespace; an indented line that is not itself `key = value` continues the previous value. A profile holds only its own keys
 * (nothing is inherited from `[DEFAULT]`, as in the SDKs).
 */
export interface DatabricksConfigFile {
  path: string;
  profiles: Map<string, Record<string, string>>;
  /** `[__settings__] default_profile`, when set. */
  defaultProfile?: string;
}

const SETTINGS = "__settings__";

export function parseConfigFile(text: string, path: string): DatabricksConfigFile {
  const sections = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  let lastKey: string | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const looksLikeEntry = /^\[.*\]$/.test(line) || /^[\w.-]+\s*[=:]/.test(line);
    if (/^\s/.test(raw) && !looksLikeEntry && current && lastKey) {
      current[lastKey] = `${current[lastKey]}\n${stripComment(line)}`.trim();
      continue;
    }
    const section = /^\[([^\]]+)\]$/.exec(line);
    if (section) {
      const name = (section[1] as string).trim();
      current = sections.get(name) ?? {};
      sections.set(name, current);
      lastKey = undefined;
      continue;
    }
    const eq = line.search(/[=:]/);
    if (eq <= 0) throw new UserError(`${path}:${i + 1}: expected "key = value" or "[profile]"`);
    if (!current) throw new UserError(`${path}:${i + 1}: "${line.slice(0, eq).trim()}" is outside any [profile] section`);
    lastKey = line.slice(0, eq).trim().toLowerCase();
    current[lastKey] = stripComment(line.slice(eq + 1).trim());
  }
  const settings = sections.get(SETTINGS);
  sections.delete(SETTINGS);
  const defaultProfile = settings?.default_profile?.trim();
  return { path, profiles: sections, ...(defaultProfile ? { defaultProfile } : {}) };
}

function stripComment(value: string): string {
  const m = /\s[#;]/.exec(value);
  return (m ? value.slice(0, m.index) : value).trim();
}

/** Reads and parses the file; undefined when it does not exist. */
export function loadConfigFile(path: string): DatabricksConfigFile | undefined {
  if (!existsSync(path)) return undefined;
  return parseConfigFile(readFileSync(path, "utf8"), path);
}

/**
 * The profile to use: the one asked for, else `[__settings__] default_profile`, else `DEFAULT` when it
 * has keys. `explicit` says whether a missing profile is an error.
 */
export function chooseProfile(
  file: DatabricksConfigFile,
  requested: string | undefined,
): { name: string; explicit: boolean } | undefined {
  if (requested) {
    if (requested === SETTINGS) throw new UserError(`${SETTINGS} is a reserved section of ${file.path}, not a profile`);
    return { name: requested, explicit: true };
  }
  if (file.defaultProfile) return { name: file.defaultProfile, explicit: true };
  const def = file.profiles.get("DEFAULT");
  if (def && Object.keys(def).length > 0) return { name: "DEFAULT", explicit: false };
  return undefined;
}
