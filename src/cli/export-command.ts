import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { TruecastError } from "../errors.js";
import { parseFloatDType } from "../dtype/table.js";
import { exportModel, type ExportReport } from "../export/export.js";
import type { DtypePolicy } from "../export/plan.js";
import { parseSize } from "../export/units.js";
import { COMMON_OPTIONS, parseCommand } from "./args.js";
import { formatExport } from "./format.js";
import type { CliIo } from "./io.js";
import { Progress } from "./progress.js";

export const EXPORT_USAGE = `truecast export <source> <out> [options]

Export a checkpoint as a Hugging Face safetensors folder, bit for bit unless a conversion is asked for.
<source> is a .safetensors file, a PyTorch .bin/.pt/.pth state dict, a Hugging Face model folder
(safetensors or PyTorch weights, single or sharded) or an H2O LLM Studio experiment folder.

Options:
  --dtype keep|bfloat16|float16|float32   dtype of floating tensors in the output (default keep: copy bytes)
  --allow-overflow                        allow a conversion that turns finite values into ±inf
  --max-shard-size SIZE                   tensor bytes per shard, decimal units: 64KB, 500MB, 5GB (default 5GB)
  --force                                 replace a non-empty <out>
  --base DIR                              the base model's folder (config and tokenizer for an H2O experiment)
  --json                                  print the whole report as JSON on stdout
  --quiet, -q                             print nothing but errors
  --debug                                 show stack traces on errors`;

export const EXPORT_OPTIONS = {
  ...COMMON_OPTIONS,
  dtype: { type: "string" },
  "allow-overflow": { type: "boolean" },
  "max-shard-size": { type: "string" },
  force: { type: "boolean" },
  base: { type: "string" },
} as const;

export function parseDtypePolicy(text: string | undefined): DtypePolicy {
  if (text === undefined || text === "keep") return "keep";
  const d = parseFloatDType(text);
  if (d === null) throw new TruecastError("USAGE", `--dtype ${text} is not one of keep, bfloat16, float16, float32`);
  return d;
}

export async function exportCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseCommand({ command: "export", argv, options: EXPORT_OPTIONS, positionals: ["source", "out"], usage: EXPORT_USAGE });
  if (args.help) {
    io.stdout.write(EXPORT_USAGE + "\n");
    return 0;
  }
  const [source, out] = args.positionals as [string, string];
  const v = args.values;
  const policy = parseDtypePolicy(v.dtype);
  const maxShardSize = v["max-shard-size"] !== undefined ? parseSize(v["max-shard-size"], "--max-shard-size") : undefined;
  const progress = new Progress(io, v.quiet === true || v.json === true);
  let phase = "";
  const report: ExportReport = await exportModel({
    source: resolve(io.cwd, source),
    out: resolve(io.cwd, out),
    dtype: policy,
    ...(maxShardSize !== undefined ? { maxShardSize } : {}),
    allowOverflow: v["allow-overflow"] === true,
    force: v.force === true,
    ...(v.base !== undefined ? { baseDir: resolve(io.cwd, v.base) } : {}),
    env: io.env,
    ...(io.fetch ? { fetch: io.fetch } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
    onEvent: (e) => {
      if (e.type === "write" || e.type === "verify") {
        if (phase !== e.type) {
          progress.end();
          progress.begin(e.type === "write" ? "writing" : "verifying");
          phase = e.type;
        }
        progress.update(e.bytes, e.total, e.type === "write" ? e.file : "");
      } else if (e.type === "done") {
        progress.end();
      }
    },
  });
  progress.end();
  if (v.json === true) io.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else if (v.quiet !== true) io.stdout.write(formatExport(report));
  return 0;
}

/** Read a user-supplied text file for a flag, with one clear line when it cannot be read. */
export async function readFlagFile(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    throw new TruecastError("NOT_FOUND", `${flag} ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
