import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A throwaway self-signed certificate for 127.0.0.1 and localhost, made with the `openssl` command
 * (an EC P-256 key, valid for two days). Its PEM is also the only CA a client must trust to reach a
 * server using it. `undefined` when `openssl` is not installed.
 */
export interface TestCertificate {
  key: string;
  cert: string;
}

let cached: TestCertificate | undefined | null = null;

export function opensslAvailable(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function selfSignedCertificate(): TestCertificate | undefined {
  if (cached !== null) return cached;
  if (!opensslAvailable()) {
    cached = undefined;
    return cached;
  }
  const dir = mkdtempSync(join(tmpdir(), "lakeforge-tls-"));
  try {
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
      ],
      { stdio: "ignore" },
    );
    cached = { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
