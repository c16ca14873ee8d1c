/**
 * What huggingface_hub (Python) needs from the Hub double beyond what @huggingface/hub needs; the conformance suite
 * (test/conformance/test_hub.py) runs the real client against it, this pins the answers it relies on:
 * - resolve answers a regular file with its git blob id as ETag (hf_hub_download refuses a file without one);
 * - a missing file or revision is a 404 with `X-Error-Code` EntryNotFound / RevisionNotFound (file_exists and
 *   get_safetensors_metadata tell a missing file by that header);
 * - POST /api/validate-yaml checks a README.md's front matter (create_commit calls it before any upload).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startHubDouble } from "../support/hub-double.js";

const AUTH = { Authorization: "Bearer hf_write" };

function gitBlobOid(bytes: Buffer): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

test("resolve: regular files carry an ETag; missing files and revisions say which with X-Error-Code", async () => {
  const d = await startHubDouble();
  try {
    d.state.createRepo("acme/r", false);
    const attributes = Buffer.from("*.safetensors filter=lfs diff=lfs merge=lfs -text\n");
    for (const method of ["HEAD", "GET"]) {
      const res = await fetch(`${d.url}/acme/r/resolve/main/.gitattributes`, { method, headers: AUTH });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("etag"), `"${gitBlobOid(attributes)}"`);
      assert.match(res.headers.get("x-repo-commit") ?? "", /^[0-9a-f]{40}$/);
      assert.equal(res.headers.get("content-length"), String(attributes.length));
      await res.body?.cancel();
    }
    const missing = await fetch(`${d.url}/acme/r/resolve/main/model.safetensors`, { method: "HEAD", headers: AUTH });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("x-error-code"), "EntryNotFound");
    const badRev = await fetch(`${d.url}/acme/r/resolve/nope/.gitattributes`, { headers: AUTH });
    assert.equal(badRev.status, 404);
    assert.equal(badRev.headers.get("x-error-code"), "RevisionNotFound");
    await badRev.body?.cancel();
    const info = await fetch(`${d.url}/api/models/acme/r/revision/nope`, { headers: AUTH });
    assert.equal(info.status, 404);
    assert.equal(info.headers.get("x-error-code"), "RevisionNotFound");
    await info.body?.cancel();
  } finally {
    await d.stop();
  }
});

test("validate-yaml: a card's front matter must parse as a mapping", async () => {
  const d = await startHubDouble();
  try {
    const ask = async (content: string) => {
      const res = await fetch(`${d.url}/api/validate-yaml`, { method: "POST", headers: { ...AUTH, "Content-Type": "application/json" }, body: JSON.stringify({ content, repoType: "model" }) });
      return { status: res.status, body: (await res.json()) as { errors?: unknown[]; warnings?: unknown[] } };
    };
    assert.deepEqual(await ask("---\nlicense: apache-2.0\ntags:\n- truecast\n---\n# Model\n"), { status: 200, body: {} });
    const none = await ask("# Model without metadata\n");
    assert.equal(none.status, 200);
    assert.equal(none.body.warnings?.length, 1);
    assert.equal((await ask("---\nlicense: [apache\n---\n")).status, 400);
    assert.equal((await ask("---\n- a list\n---\n")).status, 400);
  } finally {
    await d.stop();
  }
});
