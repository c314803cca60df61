// Writes schema/lakeforge.schema.json from the configuration schema (run `npm run schema` after
// changing src/config/schema; the npm script compiles src/config into .cache/schema first).
// With --check, exits 1 when the committed file is stale instead.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { configJsonSchemaText } from "../.cache/schema/config/json-schema.js";

const target = new URL("../schema/lakeforge.schema.json", import.meta.url);
const text = configJsonSchemaText();
if (process.argv.includes("--check")) {
  const current = existsSync(target) ? readFileSync(target, "utf8") : "";
  if (current !== text) {
    process.stderr.write("schema/lakeforge.schema.json is stale: run `npm run schema`\n");
    process.exit(1);
  }
} else {
  mkdirSync(new URL("../schema/", import.meta.url), { recursive: true });
  writeFileSync(target, text);
  process.stderr.write("wrote schema/lakeforge.schema.json\n");
}
