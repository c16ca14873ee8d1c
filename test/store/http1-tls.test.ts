/**
 * Range reads over TLS (src/store/http1-conn.ts) check the server as node:https does: the host name goes out as SNI
 * (never an IP), the certificate must chain to Node's CAs, with NODE_EXTRA_CA_CERTS honoured, and name the host.
 * Each case runs in a child process, as NODE_EXTRA_CA_CERTS is read at startup; the certificate is made by openssl
 * at test time (skipped without it).
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const RANGE_HTTP = fileURLToPath(new URL("../../src/store/range-http.js", import.meta.url));
const BODY = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 13 + 5) & 0xff));

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Reads bytes 0-999 of `url` in a child with `env`; prints what it got or the error. */
async function readInChild(url: string, env: NodeJS.ProcessEnv): Promise<{ bytes?: string; code?: string; message?: string }> {
  const script = `
    const { createRangeHttp } = await import(${JSON.stringify(RANGE_HTTP)});
    const url = ${JSON.stringify(url)};
    const http = createRangeHttp({ endpoint: new URL(url).origin, token: "", retry: { maxAttempts: 1 } });
    try {
      const a = await http.open(url, 0, 1000);
      const dest = new Uint8Array(1000);
      let at = 0;
      for (let n = 1; n > 0 && at < 1000; at += n) n = await a.fill(dest, at);
      console.log(JSON.stringify({ bytes: Buffer.from(dest.subarray(0, at)).toString("base64") }));
    } catch (e) {
      console.log(JSON.stringify({ code: e.code, message: e.message }));
    } finally {
      http.close();
    }`;
  // Not spawnSync: the server answering is in this process.
  const r = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { env, encoding: "utf8", timeout: 60_000 });
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { bytes?: string; code?: string; message?: string };
}

test("TLS: SNI names the host, NODE_EXTRA_CA_CERTS is trusted, an untrusted or misnamed certificate is refused", { skip: !hasOpenssl() && "no openssl" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "truecast-tls-"));
  const names: (string | false)[] = [];
  try {
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], { stdio: "ignore" });
    const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      names.push((req.socket as { servername?: string | false }).servername ?? false);
      res.writeHead(206, { "Content-Range": "bytes 0-999/1000", "Content-Length": "1000" });
      res.end(BODY);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const env = { ...process.env };
      delete env.NODE_EXTRA_CA_CERTS;
      const trusted = await readInChild(`https://localhost:${port}/f`, { ...env, NODE_EXTRA_CA_CERTS: cert });
      assert.equal(trusted.message, undefined);
      assert.ok(Buffer.from(trusted.bytes ?? "", "base64").equals(BODY), "the bytes over TLS");
      assert.deepEqual(names, ["localhost"], "SNI names the host");

      const untrusted = await readInChild(`https://localhost:${port}/f`, env);
      assert.equal(untrusted.code, "HUB_NETWORK");
      assert.match(untrusted.message ?? "", /^GET to https:\/\/localhost:\d+\/f failed with DEPTH_ZERO_SELF_SIGNED_CERT 1 time/);

      const byIp = await readInChild(`https://127.0.0.1:${port}/f`, { ...env, NODE_EXTRA_CA_CERTS: cert });
      assert.equal(byIp.code, "HUB_NETWORK");
      assert.match(byIp.message ?? "", /failed with ERR_TLS_CERT_ALTNAME_INVALID 1 time/);
      assert.deepEqual(names, ["localhost"], "no request went out on a connection whose certificate was refused");
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
