/**
 * Findings about where the tensors are: no weights, unreadable files, shard indexes that disagree with their
 * shards, tensors stored twice, and the same model in two formats that disagree. Headers only; with `--values`
 * the digests of the value scan tell whether two copies hold the same bytes.
 */
import type { Finding } from "../report/page-data.js";
import { finding, loadedFormat, plural, someNames } from "./finding.js";
import type { AuditModel, AuditTensor, IndexFile, WeightFile } from "./read-model.js";

/** The digest of a tensor's bytes (file + name) from the value scan, or undefined without `--values`. */
export type DigestOf = (t: AuditTensor) => string | undefined;

const SHARD_NAME = /^(model|pytorch_model)-\d+-of-\d+\.(safetensors|bin)$/;

function sameHeader(a: AuditTensor, b: AuditTensor): boolean {
  return a.dtype === b.dtype && a.shape.join() === b.shape.join();
}

/** Whether two copies hold the same bytes: true/false when known (digests, or headers that already differ). */
function sameBytes(a: AuditTensor, b: AuditTensor, digestOf: DigestOf): boolean | undefined {
  if (!sameHeader(a, b)) return false;
  const x = digestOf(a);
  const y = digestOf(b);
  return x === undefined || y === undefined ? undefined : x === y;
}

function indexFindings(ix: IndexFile, model: AuditModel): Finding[] {
  const out: Finding[] = [];
  if (ix.index === null) {
    out.push(finding("error", "INDEX_INVALID", `${ix.path} cannot be read: ${ix.problem?.message ?? "unknown problem"}`,
      "restore the index from where the shards came from", { files: [ix.path] }));
    return out;
  }
  const { index } = ix;
  const byFile = new Map(model.files.filter((f) => f.format === ix.format).map((f) => [f.path, f]));
  const missing = index.shards.filter((s) => !byFile.has(s));
  for (const shard of missing) {
    const names = [...index.weightMap].filter(([, s]) => s === shard).map(([n]) => n);
    out.push(finding("error", "INDEX_SHARD_MISSING",
      `${shard} is named by ${ix.path} for ${plural(names.length, "tensor")} but is not in the repository`,
      "upload the missing shard, or re-export the model so that index and shards agree", { files: [shard, ix.path], tensors: names }));
  }
  const where = new Map<string, string[]>();
  for (const f of byFile.values()) for (const t of f.tensors) where.set(t.name, [...(where.get(t.name) ?? []), f.path]);
  const elsewhere: string[] = [];
  const notFound: string[] = [];
  for (const [name, shard] of index.weightMap) {
    if (!byFile.has(shard)) continue;
    const found = where.get(name);
    if (found === undefined) notFound.push(name);
    else if (!found.includes(shard)) elsewhere.push(name);
  }
  if (elsewhere.length > 0) {
    out.push(finding("error", "INDEX_TENSOR_ELSEWHERE",
      `${ix.path} puts ${plural(elsewhere.length, "tensor")} in a shard that does not hold ${elsewhere.length === 1 ? "it" : "them"} (${someNames(elsewhere)}); loaders that trust the index fail or skip ${elsewhere.length === 1 ? "it" : "them"}`,
      "regenerate the index from the shards' headers (truecast export writes a correct one)", { tensors: elsewhere, files: [ix.path] }));
  }
  if (notFound.length > 0) {
    out.push(finding("error", "INDEX_TENSOR_NOT_FOUND",
      `${ix.path} lists ${plural(notFound.length, "tensor")} that no shard holds (${someNames(notFound)})`,
      "find the weights the index promises, or regenerate the index from the shards", { tensors: notFound, files: [ix.path] }));
  }
  const unlisted = [...where.keys()].filter((n) => !index.weightMap.has(n));
  if (unlisted.length > 0) {
    out.push(finding("warning", "INDEX_TENSOR_UNLISTED",
      `${plural(unlisted.length, "tensor")} in the shards ${unlisted.length === 1 ? "is" : "are"} not in ${ix.path} (${someNames(unlisted)})`,
      "regenerate the index from the shards' headers", { tensors: unlisted, files: [ix.path] }));
  }
  const strays = [...byFile.keys()].filter((f) => !index.shards.includes(f) && SHARD_NAME.test(f));
  if (strays.length > 0) {
    out.push(finding("warning", "INDEX_UNLISTED_FILE", `${someNames(strays)} look${strays.length === 1 ? "s" : ""} like shards but ${ix.path} does not name ${strays.length === 1 ? "it" : "them"}`,
      "remove stale shards left over from an earlier upload", { files: strays }));
  }
  if (index.totalSize !== null && missing.length === 0) {
    const total = [...byFile.values()].filter((f) => index.shards.includes(f.path)).reduce((n, f) => n + f.tensors.reduce((m, t) => m + t.byteLength, 0), 0);
    if (total !== index.totalSize) {
      out.push(finding("info", "INDEX_TOTAL_SIZE", `${ix.path} says total_size ${index.totalSize}; the shards hold ${total} bytes of tensors`,
        "harmless for loading; regenerate the index to make it exact", { files: [ix.path] }));
    }
  }
  return out;
}

function twiceFindings(files: readonly WeightFile[], digestOf: DigestOf): Finding[] {
  const out: Finding[] = [];
  const copies = new Map<string, AuditTensor[]>();
  for (const f of files) for (const t of f.tensors) copies.set(t.name, [...(copies.get(t.name) ?? []), t]);
  for (const [name, ts] of copies) {
    if (ts.length < 2) continue;
    const first = ts[0] as AuditTensor;
    const verdicts = ts.slice(1).map((t) => sameBytes(first, t, digestOf));
    const where = ts.map((t) => t.file);
    if (verdicts.some((v) => v === false)) {
      out.push(finding("error", "TENSOR_STORED_TWICE", `${name} is stored in ${someNames(where)} with different contents; which one a loader keeps depends on file order`,
        "keep one copy (the one you trained) and re-export", { tensors: [name], files: where }));
    } else {
      const known = verdicts.every((v) => v === true);
      out.push(finding("warning", "TENSOR_STORED_TWICE", `${name} is stored in ${someNames(where)}${known ? " with identical bytes" : " (bytes not compared: --values compares them)"}`,
        "keep one copy and re-export", { tensors: [name], files: where }));
    }
  }
  return out;
}

function formatFindings(model: AuditModel, digestOf: DigestOf): Finding[] {
  const st = model.files.filter((f) => f.format === "safetensors");
  const pt = model.files.filter((f) => f.format === "torch");
  if (st.length === 0 || pt.length === 0) return [];
  const out: Finding[] = [finding("info", "WEIGHTS_IN_TWO_FORMATS",
    `the weights are stored twice, as safetensors (${someNames(st.map((f) => f.path))}) and as PyTorch pickles (${someNames(pt.map((f) => f.path))}); transformers loads the safetensors`,
    "publish one format (safetensors) so that nobody loads a different copy", { files: [...st, ...pt].map((f) => f.path) })];
  const a = new Map(st.flatMap((f) => f.tensors.map((t) => [t.name, t] as const)));
  const b = new Map(pt.flatMap((f) => f.tensors.map((t) => [t.name, t] as const)));
  const differ: string[] = [];
  const onlyOne: string[] = [];
  for (const [name, t] of a) {
    const u = b.get(name);
    if (u === undefined) onlyOne.push(name);
    else if (sameBytes(t, u, digestOf) === false) differ.push(name);
  }
  for (const name of b.keys()) if (!a.has(name)) onlyOne.push(name);
  if (differ.length > 0 || onlyOne.length > 0) {
    const parts = [
      ...(differ.length > 0 ? [`${plural(differ.length, "tensor")} ${differ.length === 1 ? "differs" : "differ"} (${someNames(differ)})`] : []),
      ...(onlyOne.length > 0 ? [`${plural(onlyOne.length, "tensor")} ${onlyOne.length === 1 ? "is" : "are"} in one format only (${someNames(onlyOne)})`] : []),
    ];
    out.push(finding("error", "FORMATS_DISAGREE", `the safetensors and PyTorch copies are not the same model: ${parts.join("; ")}`,
      "find out which copy is the trained one, publish only it", { tensors: [...differ, ...onlyOne] }));
  }
  return out;
}

/** Weight files, indexes, copies and formats. */
export function layoutFindings(model: AuditModel, digestOf: DigestOf): Finding[] {
  const out: Finding[] = [];
  if (loadedFormat(model) === null) {
    out.push(finding("error", "NO_WEIGHTS", `${model.store.label} holds no weight files (no .safetensors, no PyTorch .bin/.pt/.pth)`,
      "check the path or repository; weights in subfolders are not audited"));
  }
  for (const f of model.files) {
    if (f.problem === undefined) {
      if (f.tensors.length === 0) {
        out.push(finding("error", "WEIGHTS_EMPTY", `${f.path} holds no tensors${f.format === "torch" ? " (a pickle that is not a state dict: a whole pickled model or training state?)" : ""}`,
          f.format === "torch" ? "save model.state_dict() instead, or export it with truecast" : "re-export the weights", { files: [f.path] }));
      }
      continue;
    }
    out.push(finding("error", "WEIGHTS_UNREADABLE", `${f.path} cannot be read (${f.problem.code}): ${f.problem.message}`,
      "re-download or re-upload the file", { files: [f.path] }));
  }
  for (const format of ["safetensors", "torch"] as const) {
    const files = model.files.filter((f) => f.format === format);
    const ix = model.indexes.find((i) => i.format === format);
    if (ix !== undefined) out.push(...indexFindings(ix, model));
    else if (files.filter((f) => SHARD_NAME.test(f.path)).length > 0) {
      out.push(finding("error", "INDEX_MISSING", `the ${format} weights are sharded (${someNames(files.map((f) => f.path))}) but there is no index naming the shards`,
        "upload the index (model.safetensors.index.json / pytorch_model.bin.index.json)", { files: files.map((f) => f.path) }));
    }
    out.push(...twiceFindings(files, digestOf));
  }
  out.push(...formatFindings(model, digestOf));
  return out;
}
