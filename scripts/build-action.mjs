// Bundles the GitHub Action (src/action/index.ts) into one ES module, action/dist/index.js, with the
// notices of the bundled packages in action/dist/licenses.txt. The output depends only on the sources
// and the installed packages (no timestamps, sorted lists), so a rebuild of an unchanged tree is
// byte-identical: test/action/dist.test.ts rebuilds it and compares.
//
// Usage: node scripts/build-action.mjs [outdir]   (default: action/dist)
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The files of the bundle: name → content. */
export async function bundleAction() {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ["src/action/index.ts"],
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    minify: true,
    legalComments: "none",
    sourcemap: false,
    metafile: true,
    write: false,
    outfile: "action/dist/index.js",
    // Packages written as CommonJS call require() for Node's modules: give the ES module one.
    banner: {
      js: 'import { createRequire as __lakeforgeCreateRequire } from "node:module"; const require = __lakeforgeCreateRequire(import.meta.url);',
    },
    logLevel: "warning",
  });
  const files = new Map();
  for (const f of result.outputFiles) files.set("index.js", f.text);
  files.set("package.json", `${JSON.stringify({ type: "module", private: true }, null, 2)}\n`);
  files.set("licenses.txt", licenses(Object.keys(result.metafile.inputs)));
  return files;
}

/** The license of every package the bundle holds code of, sorted by name. */
function licenses(inputs) {
  const roots = new Set();
  for (const input of inputs) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) roots.add(m[1]);
  }
  const entries = [];
  for (const root of roots) {
    const pkg = JSON.parse(readFileSync(join(ROOT, root, "package.json"), "utf8"));
    const file = readdirSync(join(ROOT, root))
      .filter((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f))
      .sort()[0];
    const text = file ? readFileSync(join(ROOT, root, file), "utf8").trim() : `License: ${pkg.license ?? "see the package"}`;
    entries.push({ key: `${pkg.name}@${pkg.version}`, text });
  }
  const unique = new Map(entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((e) => [e.key, e]));
  const parts = ["Packages bundled in index.js and their licenses.", ""];
  for (const e of unique.values()) parts.push(`${"-".repeat(72)}\n${e.key}\n\n${e.text.replace(/\r\n/g, "\n")}\n`);
  return `${parts.join("\n")}`;
}

export async function writeAction(outdir) {
  const files = await bundleAction();
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  for (const [name, text] of files) writeFileSync(join(outdir, name), text);
  return files;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outdir = resolve(process.argv[2] ?? join(ROOT, "action", "dist"));
  const files = await writeAction(outdir);
  for (const [name, text] of files) process.stderr.write(`${join(outdir, name)}  ${Buffer.byteLength(text)} bytes\n`);
}
