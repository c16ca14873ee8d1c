import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TruecastError } from "../../../src/errors.js";
import { OP } from "../../../src/formats/pickle/opcodes.js";
import { unpickle } from "../../../src/formats/pickle/unpickler.js";
import { readTorchCheckpoint } from "../../../src/formats/torch/checkpoint.js";
import { torchHooks } from "../../../src/formats/torch/rebuild.js";
import { fileAccess } from "../../../src/formats/zip.js";
import { openTorchFile } from "../../../src/sources/torch.js";
import { fixture, tempDir } from "../../helpers.js";
import { call, dict, global, pickle, str, tensor, tuple } from "../pickle/builder.js";
import { buildTorchZip } from "./zip-builder.js";

/** The markers the Python-written payloads would `touch` (scripts/fixtures/torch_checkpoints.py). */
const FIXTURE_MARKER = "/tmp/truecast-pickle-marker-";

function forbidden(e: unknown, message: RegExp | string): boolean {
  assert.ok(e instanceof TruecastError, String(e));
  assert.equal(e.code, "PICKLE_FORBIDDEN");
  if (typeof message === "string") assert.equal(e.message, message);
  else assert.match(e.message, message);
  return true;
}

async function readCheckpoint(path: string, fileName: string): Promise<unknown> {
  const handle = await open(path, "r");
  try {
    return await readTorchCheckpoint({ file: fileAccess(handle, (await handle.stat()).size), fileName });
  } finally {
    await handle.close();
  }
}

/** A float tensor of 2 elements, then `payload`, in one state dict. */
function stateDictWith(payload: Parameters<typeof pickle>[0]): Uint8Array {
  return pickle(dict(
    [str("w"), tensor({ cls: "FloatStorage", key: "0", numel: 2, offset: 0, size: [2], stride: [1] })],
    [str("payload"), payload],
  ));
}

const TWO_FLOATS = { "0": new Uint8Array(new Float32Array([1, 2]).buffer) };

describe("malicious pickles are refused by name, with no side effect", () => {
  it("refuses CPython-written payloads (os.system, eval, subprocess.Popen, getattr) and nothing runs", async () => {
    const cases: Array<[string, string]> = [
      ["os_system", "posix.system"],
      ["eval", "builtins.eval"],
      ["popen", "subprocess.Popen"],
      ["getattr", "builtins.getattr"],
    ];
    for (const [name] of cases) await rm(`${FIXTURE_MARKER}${name}`, { force: true });
    for (const [name, dotted] of cases) {
      const bytes = await readFile(fixture("torch", "malicious", `${name}.pkl`));
      assert.throws(
        () => unpickle({ bytes, fileName: `${name}.pkl`, hooks: torchHooks({ fileName: `${name}.pkl`, locate: () => null }) }),
        (e) => forbidden(e, `${name}.pkl wants to call ${dotted}; refusing to load it`),
      );
      assert.equal(existsSync(`${FIXTURE_MARKER}${name}`), false, `${name}: the payload did not run`);
    }
  });

  it("refuses payloads inside real torch.save archives, through the torch source too", async () => {
    for (const [file, dotted] of [["checkpoint.pth", "posix.system"], ["popen.pth", "subprocess.Popen"]] as const) {
      const path = fixture("torch", "malicious", file);
      await assert.rejects(readCheckpoint(path, file), (e) => forbidden(e, `${file} wants to call ${dotted}; refusing to load it`));
      await assert.rejects(openTorchFile(path), (e) => forbidden(e, `${file} wants to call ${dotted}; refusing to load it`));
    }
    assert.equal(existsSync(`${FIXTURE_MARKER}os_system`), false);
    assert.equal(existsSync(`${FIXTURE_MARKER}popen`), false);
  });

  it("refuses os.system in a hand-built checkpoint whose command would touch a marker, which Python's pickle does run", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const marker = join(dir, "marker");
      const payload = call(global("os", "system"), str(`touch ${marker}`));
      const pkl = stateDictWith(payload);
      const path = join(dir, "checkpoint.pth");
      await writeFile(path, buildTorchZip({ pickle: pkl, storages: TWO_FLOATS }));
      await assert.rejects(openTorchFile(path), (e) => forbidden(e, "checkpoint.pth wants to call os.system; refusing to load it"));
      assert.equal(existsSync(marker), false, "truecast ran nothing");

      // Control: the same data.pkl bytes really are a payload. Python's own pickle runs it (persistent ids
      // aside, which this control strips by unpickling only the payload part).
      const python = spawnSync("python3", ["-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"], {
        input: pickle(payload),
      });
      if (python.error === undefined) assert.equal(existsSync(marker), true, "Python's pickle runs the payload");
    } finally {
      await cleanup();
    }
  });

  it("refuses getattr chains that reach for an allowed function's internals", async () => {
    const chain = call(global("builtins", "getattr"), global("torch._utils", "_rebuild_tensor_v2"), str("__globals__"));
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "model.bin");
      await writeFile(path, buildTorchZip({ pickle: stateDictWith(chain), storages: TWO_FLOATS }));
      await assert.rejects(openTorchFile(path), (e) => forbidden(e, "model.bin wants to call builtins.getattr; refusing to load it"));
    } finally {
      await cleanup();
    }
  });

  it("refuses a forbidden global however late it comes, and through protocol 4's STACK_GLOBAL", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "late.pt");
      const late = [str("subprocess"), str("Popen"), OP.STACK_GLOBAL, tuple(str("id")), OP.REDUCE];
      await writeFile(path, buildTorchZip({ pickle: stateDictWith(late), storages: TWO_FLOATS }));
      await assert.rejects(openTorchFile(path), (e) => forbidden(e, /^late\.pt wants to call subprocess\.Popen;/));
    } finally {
      await cleanup();
    }
  });

  it("refuses _rebuild_from_type_v2 used to call something other than a rebuild function", () => {
    const trick = call(global("torch._utils", "_rebuild_from_type_v2"), global("collections", "OrderedDict"), global("torch._tensor", "Tensor"), tuple(), dict());
    assert.throws(
      () => unpickle({ bytes: pickle(trick), fileName: "t.pt", hooks: torchHooks({ fileName: "t.pt", locate: () => null }) }),
      (e: unknown) => e instanceof TruecastError && e.code === "TORCH_INVALID" && /not a torch rebuild function/.test(e.message),
    );
  });
});
