import { lstat } from "node:fs/promises";
import { resolve } from "node:path";
import { diff } from "../diff/diff.js";
import { diffPage } from "../diff/page.js";
import { TruecastError } from "../errors.js";
import { writeReportJson } from "../export/report-json.js";
import { writeReportPage } from "../report/write-page.js";
import { truecastVersion } from "../version.js";
import { COMMON_OPTIONS, parseCommand } from "./args.js";
import { formatDiff } from "./format-diff.js";
import { EXIT, sourceArg, type CliIo } from "./io.js";
import { Progress } from "./progress.js";

export const DIFF_USAGE = `truecast diff <a> <b> [options]

Compare two models tensor by tensor and say what b is to a: a bit-exact copy, a clean cast (every value the
round-to-nearest-even rounding of the other side's), a damaged cast (values overflowed to inf), a LoRA merge
(only attention/MLP projection weights changed), or how many tensors differ. <a> and <b> are anything
\`truecast export\` accepts, in any mix of formats (a .bin against its safetensors export compares the tensors).
Names are paired as they are, or, where that pairs them, with the wrapper prefixes backbone., base_model.model.,
module. and _orig_mod. removed. Tensors of the same dtype are compared byte for byte (by value only where they
differ); float tensors of different dtypes by value. Both models are streamed side by side with flat memory.

Per changed tensor: elements changed, values that became ±inf or 0, NaNs that appeared or vanished, max
absolute and relative error, max distance in ulps of the narrower dtype, and (dtype changes) how many values
are not the round-to-nearest-even cast.

Exit status (like cmp and diff): 0 when b is a bit-exact copy of a under the same names, 1 when they differ,
2 on trouble (a usage error, a source that cannot be read).

Options:
  --all         list every changed, missing or misshapen tensor (default: the first 20 of each)
  --html FILE   also write the report as one self-contained HTML page (verdict, charts of changed values,
                overflows and errors per layer and per kind of weight, a sortable table of every tensor);
                written whole or not at all; an existing FILE is refused before anything is compared
  --force       with --html, replace an existing FILE
  --json        print the report as JSON on stdout (schemaVersion, verdict, counts, every compared tensor)
  --quiet, -q   print nothing; the exit status says identical or not
  --debug       show stack traces on errors`;

/** Refuses an --html target that exists (unless --force) or is a folder before the diff runs, not after. */
async function checkPageTarget(path: string, given: string, force: boolean): Promise<void> {
  const info = await lstat(path).catch(() => null);
  if (info === null) return;
  if (info.isDirectory()) throw new TruecastError("OUTPUT_EXISTS", `${given} is a folder; choose a file path for the report page`);
  if (!force) throw new TruecastError("OUTPUT_EXISTS", `${given} already exists; choose another file or pass --force to replace it`);
}

/** `truecast diff <a> <b>`: compare two models; returns the exit code (0 identical, 1 different). */
export async function diffCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseCommand({
    command: "diff",
    argv,
    options: { ...COMMON_OPTIONS, all: { type: "boolean" }, html: { type: "string" }, force: { type: "boolean" } },
    positionals: ["a", "b"],
    usage: DIFF_USAGE,
    rules: [
      { option: "all", not: "json", because: "--json lists every tensor" },
      { option: "all", not: "quiet", because: "--quiet prints nothing" },
      { option: "json", not: "quiet", because: "--quiet prints nothing" },
      { option: "force", with: "html", because: "it lets --html replace an existing file" },
    ],
  });
  if (args.help) {
    io.stdout.write(DIFF_USAGE + "\n");
    return EXIT.ok;
  }
  const [a, b] = args.positionals as [string, string];
  const html = args.values.html === undefined ? null : resolve(io.cwd, args.values.html);
  const force = args.values.force === true;
  if (html !== null) await checkPageTarget(html, args.values.html as string, force);
  const progress = new Progress(io, args.values.quiet === true || args.values.json === true);
  progress.begin("comparing");
  let report;
  try {
    report = await diff({
      a: sourceArg(io.cwd, a),
      b: sourceArg(io.cwd, b),
      open: { env: io.env, ...(io.fetch ? { fetch: io.fetch } : {}) },
      onEvent: (e) => progress.update(e.done, e.total, e.tensor),
      ...(io.signal ? { signal: io.signal } : {}),
    });
  } finally {
    progress.end();
  }
  if (html !== null) {
    await writeReportPage(html, diffPage(report, { generator: `truecast ${truecastVersion()}`, date: new Date().toISOString() }), { force });
  }
  if (args.values.json === true) await writeReportJson({ ...report }, (s) => io.stdout.write(s));
  else if (args.values.quiet !== true) io.stdout.write(formatDiff(report, args.values.all === true, html === null ? [] : [`report page: ${html}`]));
  return report.verdict.identical ? EXIT.ok : EXIT.failure;
}
