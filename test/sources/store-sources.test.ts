/**
 * Every source kind opened through a store that is not the local file system (test/support/memory-store.ts): the
 * same tensors, bit for bit, as from the local folder, read through the store only, with few files open at once;
 * and a remote store's carried files copied into a private temporary folder that close() removes.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { exportModel } from "../../src/export/export.js";
import { MAX_CARRIED_FILE_SIZE } from "../../src/sources/model-files.js";
import { openSource, openSourceStore } from "../../src/sources/open.js";
import { openPeftAdapter, openStorePeftAdapter, type PeftAdapter } from "../../src/sources/peft.js";
import type { SourceModel } from "../../src/sources/tensor-ref.js";
import { readAllBytes } from "../../src/transforms/lora/tensor-io.js";
import { fixture } from "../helpers.js";
import { filesOf, memoryStore, type MemoryFile } from "../support/memory-store.js";
import { readAll } from "../support/read-tensors.js";

/** Runs `fn` with os.tmpdir() pointing at a fresh folder of its own; returns what is left in it afterwards. */
async function inPrivateTmp(fn: (tmp: string) => Promise<void>): Promise<string[]> {
  const tmp = await mkdtemp(join(tmpdir(), "tc-store-src-"));
  const saved = process.env["TMPDIR"];
  process.env["TMPDIR"] = tmp;
  try {
    await fn(tmp);
    return await readdir(tmp);
  } finally {
    if (saved === undefined) delete process.env["TMPDIR"];
    else process.env["TMPDIR"] = saved;
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The tensors of both sources, compared name by name: same order, dtype, shape and bytes. */
async function assertSameTensors(remote: SourceModel, local: SourceModel): Promise<number> {
  assert.deepEqual(remote.tensors.map((t) => t.name), local.tensors.map((t) => t.name));
  const a = await readAll(remote);
  const b = await readAll(local);
  assert.ok(a.size > 0);
  for (const [name, t] of b) {
    const r = a.get(name);
    assert.ok(r, name);
    assert.equal(r.dtype, t.dtype, name);
    assert.deepEqual(r.shape, t.shape, name);
    assert.ok(Buffer.from(r.bytes).equals(Buffer.from(t.bytes)), `${name}: bytes differ`);
  }
  return a.size;
}

test("a sharded safetensors repo opens from a store: bit-identical tensors, headers and data read through the store only", async () => {
  const dir = fixture("safetensors", "sharded");
  const left = await inPrivateTmp(async () => {
    const store = memoryStore(await filesOf(dir));
    const remote = await openSource("mem://org/model", { store });
    assert.equal(remote.kind, "Hugging Face folder (safetensors)");
    assert.equal(remote.path, "mem://org/model");
    assert.deepEqual(remote.tensors.map((t) => t.origin).filter((o, i, all) => all.indexOf(o) === i), ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
    const local = await openSource(dir);
    assert.deepEqual(remote.notes, local.notes);
    assert.deepEqual([...remote.files.keys()], [...local.files.keys()]);
    const n = await assertSameTensors(remote, local);
    // index + 2 headers + carried files at open; the tiny tensors of each shard then come from one block of it,
    // read through the store (one open per shard, not one per tensor); never more than one file open at once.
    assert.equal(n, 5);
    assert.equal(store.maxOpen, 1);
    assert.equal(store.openNow, 0);
    assert.equal(store.opened.filter((p) => p.endsWith(".safetensors")).length, 2 + 2);
  });
  assert.deepEqual(left, [], "close() removed the carried files' temporary folder");
});

test("a single-file safetensors repo with config and tokenizer: carried files are copied out, byte for byte, and removed on close", async () => {
  const src = fixture("safetensors", "sharded");
  const files = new Map<string, MemoryFile>([
    ["model.safetensors", await readFile(fixture("safetensors", "reference.safetensors"))],
    ["config.json", await readFile(join(src, "config.json"))],
    ["tokenizer.json", await readFile(join(src, "tokenizer.json"))],
    ["README.md", await readFile(join(src, "README.md"))],
    ["optimizer.pt", new Uint8Array(16)],
    ["huge.txt", { size: MAX_CARRIED_FILE_SIZE }],
    ["sub/config.json", new Uint8Array(3)],
  ]);
  const left = await inPrivateTmp(async (tmp) => {
    const store = memoryStore(files);
    const model = await openSourceStore(store);
    assert.equal(model.kind, "Hugging Face folder (safetensors)");
    assert.deepEqual([...model.files.keys()], ["README.md", "config.json", "tokenizer.json"]);
    assert.deepEqual(model.notes, [`huge.txt not carried: ${MAX_CARRIED_FILE_SIZE} bytes; carried files must be under ${MAX_CARRIED_FILE_SIZE} bytes`]);
    const folders = new Set([...model.files.values()].map((p) => dirname(p)));
    assert.equal(folders.size, 1);
    const [folder] = [...folders];
    assert.ok(folder !== undefined && dirname(folder) === tmp, `${folder} is a folder of its own in the temporary folder`);
    assert.equal((await stat(folder)).mode & 0o777, 0o700);
    for (const [name, path] of model.files) assert.ok((await readFile(path)).equals(Buffer.from(files.get(name) as Uint8Array)), name);
    assert.equal(store.opened.includes("huge.txt"), false, "a file over the cap is never read");
    const ref = await openSource(fixture("safetensors", "reference.safetensors"));
    await assertSameTensors(model, ref);
    await assert.rejects(stat(folder), { code: "ENOENT" });
  });
  assert.deepEqual(left, []);
});

test("a failure while copying carried files out leaves no temporary folder behind", async () => {
  const files = new Map<string, MemoryFile>([
    ["model.safetensors", await readFile(fixture("safetensors", "reference.safetensors"))],
    ["config.json", new TextEncoder().encode("{}")],
    ["tokenizer.json", new TextEncoder().encode("{}")],
  ]);
  const left = await inPrivateTmp(async () => {
    await assert.rejects(openSourceStore(memoryStore(files, "mem://org/model", { failOpen: "tokenizer.json" })), {
      code: "UNREADABLE",
      message: "mem://org/model/tokenizer.json: the store refused it",
    });
  });
  assert.deepEqual(left, []);
});

test("PyTorch .bin repos open from a store: a single file with views and storage offsets, a sharded folder, the legacy format", async () => {
  await inPrivateTmp(async () => {
    for (const name of ["views.pt", "legacy.pt", "tied.pt"]) {
      const store = memoryStore(new Map([[name, await readFile(fixture("torch", name))]]));
      const remote = await openSourceStore(store);
      assert.equal(remote.kind, "PyTorch checkpoint");
      assert.equal(remote.path, `mem://org/model/${name}`);
      const local = await openSource(fixture("torch", name));
      assert.deepEqual(remote.notes, local.notes);
      await assertSameTensors(remote, local);
      assert.equal(store.openNow, 0);
      assert.equal(store.maxOpen, 1);
    }
    for (const folder of ["sharded", "tied_folder"]) {
      const store = memoryStore(await filesOf(fixture("torch", folder)));
      const remote = await openSourceStore(store);
      assert.equal(remote.kind, "Hugging Face folder (PyTorch)");
      const local = await openSource(fixture("torch", folder));
      assert.deepEqual(remote.notes, local.notes);
      assert.deepEqual(remote.tensors.map((t) => t.name), local.tensors.map((t) => t.name));
      await assertSameTensors(remote, local);
      assert.equal(store.openNow, 0);
    }
  });
});

test("the views of a .bin read through a store match the values torch wrote", async () => {
  const expected = JSON.parse(await readFile(fixture("torch", "views.pt.expected.json"), "utf8")) as Record<string, { dtype: string; hex: string; shape: number[] }>;
  const store = memoryStore(new Map([["pytorch_model.bin", await readFile(fixture("torch", "views.pt"))]]));
  const got = await readAll(await openSourceStore(store));
  assert.deepEqual([...got.keys()].sort(), Object.keys(expected).sort());
  for (const [name, e] of Object.entries(expected)) {
    assert.equal(Buffer.from(got.get(name)?.bytes ?? []).toString("hex"), e.hex, name);
  }
});

/** Every tensor of an adapter, by role, read whole. */
async function adapterBytes(a: PeftAdapter): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  try {
    for (const m of a.modules) {
      for (const [role, t] of Object.entries({ a: m.a, b: m.b, magnitude: m.magnitude, bBias: m.bBias })) {
        if (t !== null) out.set(`${m.module}.${role}`, Buffer.from(await readAllBytes(t)).toString("hex"));
      }
    }
    for (const r of a.replacements) out.set(`${r.target} (${r.reason})`, Buffer.from(await readAllBytes(r.tensor)).toString("hex"));
  } finally {
    await a.close();
  }
  return out;
}

test("PEFT adapters (safetensors and .bin) open from a store with the same config and tensors", async () => {
  for (const name of ["plain", "dora", "modules_to_save"]) {
    const dir = fixture("lora", name);
    const store = memoryStore(await filesOf(dir), `mem://org/${name}`);
    const remote = await openStorePeftAdapter(store);
    const local = await openPeftAdapter(dir);
    assert.equal(remote.path, `mem://org/${name}`);
    assert.equal(remote.weightsPath, `mem://org/${name}/${local.weightsPath.slice(dir.length + 1)}`);
    assert.deepEqual(remote.config, local.config);
    const a = await adapterBytes(remote);
    assert.ok(a.size > 0);
    assert.deepEqual(a, await adapterBytes(local));
    assert.equal(store.openNow, 0);
  }
  await assert.rejects(openStorePeftAdapter(memoryStore(new Map([["adapter_model.safetensors", new Uint8Array(8)]]))), {
    code: "NOT_FOUND",
    message: "mem://org/model/adapter_config.json: not found; a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors",
  });
});

test("errors through a store name the file as the store does; an H2O experiment is refused from a remote store", async () => {
  const truncated = (await readFile(fixture("safetensors", "reference.safetensors"))).subarray(0, 100);
  await assert.rejects(openSourceStore(memoryStore(new Map([["model.safetensors", truncated]]))), (e: unknown) => {
    assert.equal((e as { code?: string }).code, "ST_TRUNCATED");
    assert.match((e as Error).message, /^mem:\/\/org\/model\/model\.safetensors: /);
    return true;
  });
  await assert.rejects(openSourceStore(memoryStore(new Map([["cfg.yaml", new Uint8Array(1)], ["checkpoint.pth", new Uint8Array(1)]]))), {
    code: "UNKNOWN_SOURCE",
    message: "mem://org/model is an H2O LLM Studio experiment, which truecast reads from a local folder only; download it and export that folder",
  });
  await assert.rejects(openSourceStore(memoryStore(new Map([["a.pt", new Uint8Array(1)], ["b.safetensors", new Uint8Array(1)]]))), {
    code: "UNKNOWN_SOURCE",
    message: "mem://org/model holds several weight files (a.pt, b.safetensors) and no model index; pass the checkpoint file itself, e.g. truecast export mem://org/model/a.pt <out>",
  });
});

test("an export from a store writes the same weights and config.json as from the local folder, and leaves no temporary files", async () => {
  const dir = fixture("torch", "sharded");
  const work = await mkdtemp(join(tmpdir(), "tc-store-export-"));
  try {
    const left = await inPrivateTmp(async () => {
      const store = memoryStore(await filesOf(dir));
      const fromStore = await exportModel({ source: "mem://org/model", store, out: join(work, "a"), modelCard: false });
      const fromLocal = await exportModel({ source: dir, out: join(work, "b"), modelCard: false });
      assert.equal(fromStore.bitExact, fromLocal.bitExact);
      assert.equal(fromStore.tensorCount, fromLocal.tensorCount);
      assert.equal(store.openNow, 0);
    });
    assert.deepEqual(left, []);
    const a = (await readdir(join(work, "a"))).filter((n) => n !== "truecast-report.json").sort();
    assert.deepEqual(a, (await readdir(join(work, "b"))).filter((n) => n !== "truecast-report.json").sort());
    assert.ok(a.includes("config.json") && a.some((n) => n.endsWith(".safetensors")));
    for (const name of a) assert.ok((await readFile(join(work, "a", name))).equals(await readFile(join(work, "b", name))), name);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test("a store handed to the source (closeStore) is closed with it, or at once when opening fails; otherwise it stays open", async () => {
  const files = new Map([["model.safetensors", await readFile(fixture("safetensors", "reference.safetensors"))]]);
  const kept = memoryStore(files);
  await (await openSourceStore(kept)).close();
  assert.equal(kept.closes, 0);
  const owned = memoryStore(files);
  const model = await openSourceStore(owned, { closeStore: true });
  assert.equal(owned.closes, 0);
  await model.close();
  assert.equal(owned.closes, 1);
  const bad = memoryStore(new Map([["notes.txt", new Uint8Array(1)]]));
  await assert.rejects(openSourceStore(bad, { closeStore: true }), { code: "UNKNOWN_SOURCE" });
  assert.equal(bad.closes, 1);
});
