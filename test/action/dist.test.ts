/**
 * The committed bundle of the action (`action/dist`) is what `npm run build:action` makes from the
 * current sources, the build is reproducible, and `action.yml` declares exactly the inputs the action
 * reads, with the defaults it expects.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ACTION_INPUTS, INPUT_DEFAULTS } from "../../src/action/inputs.js";
import { ACTION_MAIN, actionYaml, ROOT } from "./helpers.js";

const DIST = join(ROOT, "action", "dist");
const work = mkdtempSync(join(tmpdir(), "lakeforge-action-dist-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function build(outdir: string): Map<string, Buffer> {
  execFileSync(process.execPath, [join(ROOT, "scripts", "build-action.mjs"), outdir], { cwd: ROOT, stdio: "pipe" });
  return read(outdir);
}

function read(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  if (!existsSync(dir)) return files;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isFile()) files.set(name, readFileSync(p));
  }
  return files;
}

const STALE = "action/dist is out of date with the sources: run `npm run build:action` and commit action/dist";

describe("the action's bundle", () => {
  it("is up to date: a rebuild equals the committed action/dist, and builds are reproducible", () => {
    const fresh = build(join(work, "a"));
    const committed = read(DIST);
    expect([...committed.keys()], STALE).toEqual([...fresh.keys()]);
    for (const [name, content] of fresh) {
      expect(committed.get(name)?.equals(content), `${STALE} (${name} differs)`).toBe(true);
    }
    const again = build(join(work, "b"));
    for (const [name, content] of fresh)
      expect(again.get(name)?.equals(content), `${name} differs between two builds`).toBe(true);
  });

  it("is one ES module with no source map, no path of the machine that built it, and the notices of what it bundles", () => {
    const files = read(DIST);
    expect([...files.keys()].sort()).toEqual(["index.js", "licenses.txt", "package.json"]);
    const index = files.get("index.js")?.toString("utf8") ?? "";
    // A bound that catches accidents (a source map inlined, a package bundled twice), not growth.
    expect(index.length).toBeLessThan(8 * 1024 * 1024);
    expect(index).not.toContain("sourceMappingURL");
    expect(index).not.toContain(ROOT);
    expect(JSON.parse(files.get("package.json")?.toString("utf8") ?? "{}").type).toBe("module");
    const notices = files.get("licenses.txt")?.toString("utf8") ?? "";
    for (const pkg of ["@actions/core@", "commander@", "@octokit/rest@", "libsodium-wrappers@", "yaml@", "zod@"]) {
      expect(notices).toContain(`\n${pkg}`);
    }
  });

  it("is what action.yml runs, and action.yml declares exactly the inputs the action reads, with its defaults", () => {
    const spec = actionYaml();
    expect(spec.runs).toEqual({ using: "node20", main: "action/dist/index.js" });
    expect(join(ROOT, spec.runs.main)).toBe(ACTION_MAIN);
    expect(Object.keys(spec.inputs).sort()).toEqual(ACTION_INPUTS.map((i) => i.name).sort());
    const defaults = Object.fromEntries(
      Object.entries(spec.inputs)
        .filter(([, i]) => i.default !== undefined)
        .map(([name, i]) => [name, i.default]),
    );
    expect(defaults).toEqual(INPUT_DEFAULTS);
    expect(spec.inputs.command?.required).toBe(true);
    for (const [name, input] of Object.entries(spec.inputs)) expect(input.description, name).toMatch(/\S/);
  });
});
