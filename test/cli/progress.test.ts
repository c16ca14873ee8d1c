import { test } from "node:test";
import assert from "node:assert/strict";
import { Progress } from "../../src/cli/progress.js";
import type { CliIo } from "../../src/cli/io.js";

function io(isTTY: boolean): { io: CliIo; err: () => string } {
  let err = "";
  return {
    io: { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s), isTTY, columns: 200 }, env: {}, cwd: "/" },
    err: () => err,
  };
}

test("on a TTY the progress line shows percent, bytes, rate and ETA, then is cleared", () => {
  const t = io(true);
  const p = new Progress(t.io, false);
  p.begin("writing");
  p.update(5_000_000_000, 10_000_000_000, "model-00001-of-00002.safetensors");
  const line = t.err();
  assert.match(line, /^\r\x1b\[2Kwriting  50% · 5\.0 GB\/10\.0 GB · [\d.]+ [KMGT]?B\/s · ETA (\d+s|\d+m \d\ds|\d+h \d\dm|--) · model-00001-of-00002\.safetensors$/);
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
