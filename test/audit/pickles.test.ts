/**
 * `audit` of hostile and unusual pickles as a model's only weights: a whole pickled module, a torch.save archive
 * whose pickle calls os.system, and a legacy-format file that does: each is named, nothing runs.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { auditModel, type AuditResult } from "../../src/audit/audit.js";
import { OP } from "../../src/formats/pickle/opcodes.js";
import { openLocalStore } from "../../src/store/local-store.js";
import { fixture, tempDir } from "../helpers.js";
import { bytes, call, dict, global, int, pickle, str } from "../formats/pickle/builder.js";

let root = "";
let cleanup: () => Promise<void> = async () => {};
before(async () => ({ dir: root, cleanup } = await tempDir("truecast-audit-pickles-")));
after(() => cleanup());

async function auditBin(name: string, data: Uint8Array | string): Promise<AuditResult> {
  const dir = join(root, name);
  await mkdir(dir);
  if (typeof data === "string") await copyFile(data, join(dir, "pytorch_model.bin"));
  else await writeFile(join(dir, "pytorch_model.bin"), data);
  return auditModel({ store: await openLocalStore(dir) });
}

function messageOf(r: AuditResult, code: string): string {
  const f = r.findings.find((x) => x.code === code);
  assert.ok(f !== undefined, `${code} in ${JSON.stringify(r.findings.map((x) => x.code))}`);
  return f.message;
}

describe("audit of pickles", () => {
  it("a whole pickled module: WEIGHTS_EMPTY and the nn.Module class it would import", async () => {
    const r = await auditBin("module", fixture("torch", "whole_module.pt"));
    assert.match(messageOf(r, "WEIGHTS_EMPTY"), /^pytorch_model\.bin holds no tensors \(a pickle that is not a state dict/);
    assert.match(messageOf(r, "PICKLE_UNSAFE_GLOBALS"), /allowlist when loaded: torch\.nn\.modules\.linear\.Linear;/);
    assert.equal(r.ok, false);
  });

  it("a torch.save archive that calls os.system: named, its tensor described, nothing run", async () => {
    const r = await auditBin("system", fixture("torch", "malicious", "checkpoint.pth"));
    assert.match(messageOf(r, "PICKLE_UNSAFE_GLOBALS"), /allowlist when loaded: posix\.system;/);
    assert.equal(r.tensors.length, 1);
    assert.equal(existsSync("/tmp/truecast-pickle-marker-os_system"), false);
  });

  it("a legacy-format file that calls os.system: refused by name", async () => {
    const { dir, cleanup: done } = await tempDir();
    try {
      const marker = join(dir, "marker");
      const magic = pickle(OP.LONG1, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19);
      const version = pickle(OP.BININT2, 0xe9, 0x03);
      const info = pickle(dict([str("protocol_version"), int(1001)], [str("little_endian"), OP.NEWTRUE]));
      const main = pickle(dict([str("t"), call(global("os", "system"), str(`touch ${marker}`))]));
      const r = await auditBin("legacy", bytes(magic, version, info, main, pickle(OP.EMPTY_LIST), [0, 0, 0, 0, 0, 0, 0, 0]));
      assert.match(messageOf(r, "PICKLE_UNSAFE_GLOBALS"), /^pytorch_model\.bin names what torch's rebuild allowlist refuses \(.*os\.system.*\)/);
      assert.equal(existsSync(marker), false);
    } finally {
      await done();
    }
  });
});
