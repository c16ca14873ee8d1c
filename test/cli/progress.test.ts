import { test } from "node:test";
import assert from "node:assert/strict";
import { Progress } from "../../src/cli/progress.js";
import { showPublishProgress } from "../../src/cli/hub-options.js";
import type { CliIo } from "../../src/cli/io.js";

function io(isTTY: boolean): { io: CliIo; err: () => string; frames: () => string[] } {
  let err = "";
  return {
    io: { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s), isTTY, columns: 200 }, env: {}, cwd: "/" },
    err: () => err,
    frames: () => err.split("\r\x1b[2K").filter((f) => f !== ""),
  };
}

/** A clock the test moves by hand. */
function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test("on a TTY the progress line shows percent and bytes, then rate and ETA once they mean something, then is cleared", () => {
  const t = io(true);
  const c = clock();
  const p = new Progress(t.io, false, c.now);
  p.begin("writing");
  // The first frame comes out of the page cache: no rate, no ETA yet.
  c.advance(10);
  p.update(2_000_000_000, 10_000_000_000, "model-00001-of-00002.safetensors");
  assert.deepEqual(t.frames(), ["writing  20% · 2.0 GB/10.0 GB · model-00001-of-00002.safetensors"]);
  // Then 100 MB/s for five seconds: the rate is that of the window, not of the first burst.
  for (let i = 1; i <= 50; i++) {
    c.advance(100);
    p.update(2_000_000_000 + i * 10_000_000, 10_000_000_000, "model-00001-of-00002.safetensors");
  }
  const last = t.frames().at(-1);
  assert.match(last ?? "", /^writing  25% · 2\.5 GB\/10\.0 GB · 10\d(\.\d)? MB\/s · ETA 1m 1\ds · model-00001-of-00002\.safetensors$/);
  p.end();
  assert.ok(t.err().endsWith("\r\x1b[2K"));
});

test("off a TTY, or when quiet, nothing is drawn", () => {
  for (const [tty, quiet] of [[false, false], [true, true]] as const) {
    const t = io(tty);
    const p = new Progress(t.io, quiet);
    p.begin("writing");
    p.update(1, 2);
    p.end();
    assert.equal(t.err(), "");
  }
});

test("publish progress: hashing has its own phase; no rate or ETA is made up while nothing is sent", () => {
  const t = io(true);
  const c = clock();
  const show = showPublishProgress(new Progress(t.io, false, c.now));
  for (let i = 1; i <= 40; i++) {
    c.advance(200);
    show({ type: "file", path: "model.safetensors", state: "hashing", bytes: i * 25_000_000, total: 1_000_000_000 });
    show({ type: "overall", bytes: 0, total: 1_000_000_000, files: 0, filesTotal: 2 });
  }
  const hashing = t.frames();
  assert.ok(hashing.every((f) => f.startsWith("hashing ")), hashing.join("\n"));
  assert.match(hashing.at(-1) ?? "", /^hashing 100% · 1\.0 GB\/1\.0 GB · 125 MB\/s · model\.safetensors$/);
  assert.ok(hashing.every((f) => !/ETA \d+h/.test(f)));
  c.advance(100);
  show({ type: "file", path: "model.safetensors", state: "uploading", bytes: 1_000_000, total: 1_000_000_000 });
  show({ type: "overall", bytes: 1_000_000, total: 1_000_000_000, files: 0, filesTotal: 2 });
  assert.equal(t.frames().at(-1), "uploading   0% · 1.0 MB/1.0 GB · 0/2 files");
});
