import { resolve } from "node:path";
import { lstat, stat } from "node:fs/promises";
import { auditReportPage } from "../audit/audit-page.js";
import { auditModel } from "../audit/audit.js";
import { TruecastError } from "../errors.js";
import { reportJson } from "../export/report-json.js";
import { openLocalStore } from "../store/local-store.js";
import type { ModelStore } from "../store/store.js";
import { writeReportPage } from "../report/write-page.js";
import { truecastVersion } from "../version.js";
import { COMMON_OPTIONS, parseCommand } from "./args.js";
import { formatAudit } from "./audit-format.js";
import { EXIT, type CliIo } from "./io.js";
import { Progress } from "./progress.js";

export const AUDIT_USAGE = `truecast audit <source> [options]

Check whether a model is intact: config.json's dtype against the tensors (nested sub-configs too), mixed
floating dtypes, shard indexes against their shards, tensors stored twice, a tied lm_head stored anyway or an
untied one missing, weights only in pickle form (with the globals the pickle would call, read without running
it), and a model card whose precision or base_model disagrees with the files. Reads headers only, unless
--values: then every floating tensor is streamed once (bounded memory) for NaN, ±inf, the float16 overflow
signature (±inf or values at ±65504 in float16 tensors), values a float16 copy could not hold, all-zero
tensors and subnormal values. <source> is a model folder.

Exit status: 0 when no finding is an error (warnings allowed), 1 when one is, 2 for a usage error.

Options:
  --values      also read every floating value (streams the whole model once)
  --html FILE   also write a self-contained report page (verdict, charts per block and kind of weight, a
                sortable table of every tensor); written atomically, an existing FILE is refused
  --force       with --html, replace an existing FILE
  --json        print the result as JSON on stdout (findings, per-tensor stats, requests)
  --quiet, -q   print nothing; the exit status is the verdict
  --debug       show stack traces on errors`;

async function openAuditStore(spec: string, io: CliIo): Promise<ModelStore> {
  if (spec.startsWith("hf://")) {
    throw new TruecastError("USAGE", `${spec}: Hub sources (hf://) are not available in this build; download the repo and audit its folder`);
  }
  const dir = resolve(io.cwd, spec);
  const info = await stat(dir).catch(() => null);
  if (info !== null && info.isFile()) {
    throw new TruecastError("USAGE", `${spec} is a file; give the model's folder (audit checks config.json, indexes and shards together)`);
  }
  return openLocalStore(dir);
}

/** `truecast audit <source>`: returns 0 when no finding is an error, 1 otherwise. */
export async function auditCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseCommand({
    command: "audit",
    argv,
    options: { ...COMMON_OPTIONS, values: { type: "boolean" }, html: { type: "string" }, force: { type: "boolean" } },
    positionals: ["source"],
    usage: AUDIT_USAGE,
    rules: [{ option: "force", with: "html", because: "it lets --html replace an existing file" }],
  });
  if (args.help) {
    io.stdout.write(AUDIT_USAGE + "\n");
    return EXIT.ok;
  }
  const [spec] = args.positionals as [string];
  const html = args.values.html === undefined ? undefined : resolve(io.cwd, args.values.html);
  if (html !== undefined && args.values.force !== true && (await lstat(html).catch(() => null)) !== null) {
    // Refused before the audit reads anything; writeReportPage checks again when it writes.
    throw new TruecastError("OUTPUT_EXISTS", `${args.values.html} already exists; choose another file or pass --force to replace it`);
  }
  const store = await openAuditStore(spec, io);
  const progress = new Progress(io, args.values.quiet === true || args.values.json === true);
  try {
    let done = 0;
    progress.begin("scanning values");
    const result = await auditModel({
      store,
      values: args.values.values === true,
      onTensor: (name, bytes) => {
        done += bytes;
        progress.update(done, done, name);
      },
      ...(io.signal ? { signal: io.signal } : {}),
    });
    progress.end();
    if (html !== undefined) {
      const page = auditReportPage(result, { generator: `truecast ${truecastVersion()}`, date: new Date().toISOString() });
      await writeReportPage(html, page, { force: args.values.force === true });
    }
    if (args.values.json === true) io.stdout.write(reportJson({ command: "audit", ...result }));
    else if (args.values.quiet !== true) io.stdout.write(formatAudit(result));
    return result.ok ? EXIT.ok : EXIT.failure;
  } finally {
    progress.end();
    await store.close();
  }
}
