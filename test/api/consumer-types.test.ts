/**
 * The published types from a consumer's point of view: a .ts file that imports "truecast" (resolved through the
 * package's own `exports`, against the built dist/) compiles under strict settings, and a misspelt call does not.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot, tempDir } from "../helpers.js";

const run = promisify(execFile);
const built = existsSync(join(repoRoot(), "dist", "src", "index.d.ts"));

const CONSUMER = `import { exportModel, inspect, openSource, publishFolder, TruecastError, type ExportReport, type InspectReport, type PublishReport, type SourceFileDigest } from "truecast";

async function main(): Promise<void> {
  const report: ExportReport = await exportModel({ source: "./base", adapter: "./lora", out: "./out", dtype: "bfloat16", maxShardSize: 2e9 });
  const bitExact: number = report.bitExact;
  const sources: readonly SourceFileDigest[] = report.sourceFiles;
  const seen: InspectReport = await inspect("./out");
  const parameters: number = seen.parameters;
  const model = await openSource("./out");
  await model.close();
  const published: PublishReport = await publishFolder({ folder: "./out", repoId: "acme/model", token: "hf_x" });
  console.log(bitExact, sources[0]?.sha256, parameters, published.commit.url);
}
main().catch((e: unknown) => {
  if (e instanceof TruecastError) console.error(e.code, e.message);
});
`;

async function compile(dir: string, source: string): Promise<{ ok: boolean; output: string }> {
  await writeFile(join(dir, "consumer.ts"), source);
  const tsc = join(repoRoot(), "node_modules", "typescript", "bin", "tsc");
  try {
    const r = await run(process.execPath, [tsc, "-p", dir], { cwd: dir });
    return { ok: true, output: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, output: (err.stdout ?? "") + (err.stderr ?? "") };
  }
}

test("a consumer's TypeScript compiles against the built package, and a wrong call does not", { skip: !built && "not built" }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await mkdir(join(dir, "node_modules"));
    await symlink(repoRoot(), join(dir, "node_modules", "truecast"), "dir");
    await writeFile(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          typeRoots: [join(repoRoot(), "node_modules", "@types")],
          types: ["node"],
        },
        files: ["consumer.ts"],
      }),
    );
    await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    const good = await compile(dir, CONSUMER);
    assert.equal(good.ok, true, good.output);
    const bad = await compile(dir, CONSUMER.replace('source: "./base"', 'sorce: "./base"'));
    assert.equal(bad.ok, false);
    assert.match(bad.output, /sorce/);
  } finally {
    await cleanup();
  }
});
