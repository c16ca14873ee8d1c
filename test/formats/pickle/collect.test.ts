/**
 * The restricted unpickler in collecting mode (pickle/collect.ts): it lists every global a pickle names, with
 * whether torch's allowlist honours it, describes the tensors around refused globals, runs nothing, and still
 * stops at the budget.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { collectPickle } from "../../../src/formats/pickle/collect.js";
import { OP } from "../../../src/formats/pickle/opcodes.js";
import { scanTorchCheckpoint } from "../../../src/formats/torch/checkpoint.js";
import { isTorchTensor, torchHooks } from "../../../src/formats/torch/rebuild.js";
import { fileAccess } from "../../../src/formats/zip.js";
import { fixture, tempDir } from "../../helpers.js";
import { buildTorchZip } from "../torch/zip-builder.js";
import { call, dict, global, pickle, str, tensor } from "./builder.js";
import { opcodeFlood, setBomb } from "./hostile.js";

const hooks = (fileName: string) => torchHooks({ fileName, locate: () => null });

describe("collecting mode lists what a pickle would call, and runs nothing", () => {
  it("names the payload of each CPython-written malicious pickle as outside the allowlist", async () => {
    const cases: Array<[string, string]> = [
      ["os_system", "posix.system"],
      ["eval", "builtins.eval"],
      ["popen", "subprocess.Popen"],
      ["getattr", "builtins.getattr"],
    ];
    for (const [name, dotted] of cases) {
      const data = await readFile(fixture("torch", "malicious", `${name}.pkl`));
      const r = collectPickle({ bytes: data, fileName: `${name}.pkl`, hooks: hooks(`${name}.pkl`) });
      const g = r.globals.find((x) => x.name === dotted);
      assert.deepEqual(g, { name: dotted, allowed: false, count: 1 }, `${name}: ${JSON.stringify(r.globals)}`);
      assert.equal(existsSync(`/tmp/truecast-pickle-marker-${name}`), false);
    }
  });

  it("describes a state dict's tensors beside a refused global, and counts each global", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const marker = join(dir, "marker");
      const pkl = pickle(dict(
        [str("w"), tensor({ cls: "FloatStorage", key: "0", numel: 2, offset: 0, size: [2], stride: [1] })],
        [str("payload"), call(global("os", "system"), str(`touch ${marker}`))],
        [str("again"), call(global("os", "system"), str(`touch ${marker}`))],
      ));
      const path = join(dir, "model.bin");
      await writeFile(path, buildTorchZip({ pickle: pkl, storages: { "0": new Uint8Array(new Float32Array([1, 2]).buffer) } }));
      const handle = await open(path, "r");
      const scan = await scanTorchCheckpoint({ file: fileAccess(handle, (await handle.stat()).size), fileName: "model.bin" });
      await handle.close();
      const { globals, value, problem } = scan.collected;
      assert.equal(problem, null);
      assert.deepEqual(globals.filter((g) => !g.allowed), [{ name: "os.system", allowed: false, count: 2 }]);
      assert.ok(value instanceof Map);
      const w = value.get("w");
      assert.ok(w !== undefined && isTorchTensor(w));
      assert.deepEqual((w as unknown as { shape: number[] }).shape, [2]);
      assert.deepEqual(value.get("payload"), { kind: "placeholder", of: "os.system" });
      assert.equal(existsSync(marker), false, "nothing ran");
    } finally {
      await cleanup();
    }
  });

  it("stops at a call of a placeholder and keeps what it named before", () => {
    const chain = call(call(global("builtins", "getattr"), global("os", "path"), str("join")), str("a"));
    const r = collectPickle({ bytes: pickle(chain), fileName: "x.pkl", hooks: hooks("x.pkl") });
    assert.deepEqual(r.globals.map((g) => [g.name, g.allowed]), [["builtins.getattr", false], ["os.path", false]]);
    assert.equal(r.value, null);
    assert.equal(r.problem?.code, "PICKLE_FORBIDDEN");
  });

  it("still refuses a pickle past its budget, even inside the allowlisted calls it hands on", async () => {
    for (const [name, zip] of [["set.pt", setBomb()], ["dicts.pt", opcodeFlood(OP.EMPTY_DICT, 4 * 1024 * 1024)]] as const) {
      const scan = await scanTorchCheckpoint({ file: { size: zip.length, read: async (at: number, n: number) => zip.subarray(at, at + n) }, fileName: name });
      assert.equal(scan.collected.problem?.code, "PICKLE_BUDGET", name);
      assert.equal(scan.collected.value, null);
    }
  });
});
