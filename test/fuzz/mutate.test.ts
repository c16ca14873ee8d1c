import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OP } from "../../src/formats/pickle/opcodes.js";
import { fixture } from "../helpers.js";
import { buildZip } from "../formats/torch/zip-builder.js";
import { caseRng, mutateBytes } from "./mutate.js";
import { checkInProcess } from "./oracle.js";
import { mutatePickle, stripFrames, walkPickle } from "./pickle-mutate.js";
import { mutateSafetensors } from "./safetensors-mutate.js";
import { safetensorsSeeds, torchZipSeeds } from "./seeds.js";
import { mutateTorchZip, readRecords } from "./zip-mutate.js";

describe("fuzz mutators", () => {
  it("are deterministic for a (seed, case) and differ between cases", async () => {
    const seed = torchZipSeeds()[0];
    assert.ok(seed !== undefined);
    const a = await mutateTorchZip(caseRng(7, 3), seed.bytes);
    const b = await mutateTorchZip(caseRng(7, 3), seed.bytes);
    assert.deepEqual(a.bytes, b.bytes);
    assert.equal(a.what, b.what);
    const others = await Promise.all([4, 5, 6, 7].map((i) => mutateTorchZip(caseRng(7, i), seed.bytes)));
    assert.ok(others.some((o) => Buffer.compare(Buffer.from(o.bytes), Buffer.from(a.bytes)) !== 0));
    assert.deepEqual(mutateBytes(caseRng(1, 1), Uint8Array.of(1, 2, 3)), mutateBytes(caseRng(1, 1), Uint8Array.of(1, 2, 3)));
  });

  it("walk every fixture's data.pkl opcode by opcode to its STOP, with and without FRAMEs", async () => {
    for (const s of torchZipSeeds()) {
      const pkl = (await readRecords(s.bytes)).find((r) => r.name.endsWith("data.pkl"));
      assert.ok(pkl !== undefined, s.name);
      for (const bytes of [pkl.data, stripFrames(pkl.data)]) {
        const { ops, end } = walkPickle(bytes);
        assert.equal(end, bytes.length, s.name);
        assert.equal(ops.at(-1)?.op, OP.STOP, s.name);
      }
    }
  });

  it("rebuild a torch archive record for record, so that a pickle mutation reaches the unpickler", async () => {
    for (const s of torchZipSeeds()) {
      const records = await readRecords(s.bytes);
      const again = await readRecords(buildZip(records, { align: 64 }));
      assert.deepEqual(again.map((r) => [r.name, Buffer.from(r.data).toString("hex")]), records.map((r) => [r.name, Buffer.from(r.data).toString("hex")]));
    }
  });

  it("change a pickle by whole opcodes (null only where the pickle has no opcode of the kind chosen)", () => {
    const pkl = Uint8Array.of(OP.PROTO, 2, OP.EMPTY_DICT, OP.BINPUT, 0, OP.MARK, OP.BININT1, 1, OP.BININT1, 2, OP.SETITEMS, OP.STOP);
    let changed = 0;
    for (let i = 0; i < 50; i++) {
      const m = mutatePickle(caseRng(3, i), pkl);
      if (m !== null && Buffer.compare(Buffer.from(m.bytes), Buffer.from(pkl)) !== 0) changed++;
    }
    assert.ok(changed >= 25, `only ${changed} of 50 mutations changed the pickle`);
  });

  it("keep a safetensors header's 8-byte length right when they edit the header", () => {
    const seed = safetensorsSeeds()[0];
    assert.ok(seed !== undefined);
    let edited = 0;
    for (let i = 0; i < 100; i++) {
      const m = mutateSafetensors(caseRng(5, i), seed.bytes);
      if (/^(header length|data:|flip|byte|u32|truncate|copy|delete|insert|randomize)/.test(m.what)) continue;
      edited++;
      const n = Number(Buffer.from(m.bytes).readBigUInt64LE(0));
      assert.ok(8 + n <= m.bytes.length, m.what);
      const tail = Buffer.from(seed.bytes).subarray(8 + Number(Buffer.from(seed.bytes).readBigUInt64LE(0)));
      assert.deepEqual(Buffer.from(m.bytes).subarray(8 + n), tail, m.what);
    }
    assert.ok(edited > 30);
  });
});

describe("fuzz oracle (in process)", () => {
  it("reads a valid checkpoint to digests and classifies a refused one by code", async () => {
    const ok = await checkInProcess(fixture("torch", "views.pt"));
    assert.equal(ok.kind, "ok");
    assert.equal(ok.kind === "ok" ? ok.digests.size : 0, 8);
    const refused = await checkInProcess(fixture("torch", "malicious", "popen.pth"));
    assert.deepEqual(refused.kind === "refused" ? refused.code : refused.kind, "PICKLE_FORBIDDEN");
  });
});
