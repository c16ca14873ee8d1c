/** The fuzzer's seed inputs, read at test time from the committed small fixtures. */
import { readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fixture, repoRoot } from "../helpers.js";
import type { SeedInput } from "./harness.js";

function isZip(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04;
}

function torchFiles(): SeedInput[] {
  const dir = fixture("torch");
  return readdirSync(dir)
    .filter((f) => [".pt", ".pth"].includes(extname(f)) && f !== "not_a_checkpoint.pt")
    .map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(dir, f))), ext: ".pt" }));
}

/** torch.save zip archives (data.pkl + storages). */
export function torchZipSeeds(): SeedInput[] {
  return torchFiles().filter((s) => isZip(s.bytes));
}

/** Legacy (pre-1.6) torch files: a sequence of pickles followed by raw storages. */
export function legacySeeds(): SeedInput[] {
  return torchFiles().filter((s) => !isZip(s.bytes));
}

/** Small safetensors files: the reference file, the sharded fixture's shards, the example model. */
export function safetensorsSeeds(): SeedInput[] {
  const files = [
    fixture("safetensors", "reference.safetensors"),
    fixture("safetensors", "sharded", "model-00001-of-00002.safetensors"),
    fixture("safetensors", "sharded", "model-00002-of-00002.safetensors"),
    join(repoRoot(), "examples", "tiny-llama-bf16", "model.safetensors"),
  ];
  return files.map((f) => ({ name: f.split("/").slice(-2).join("_"), bytes: new Uint8Array(readFileSync(f)), ext: ".safetensors" }));
}
