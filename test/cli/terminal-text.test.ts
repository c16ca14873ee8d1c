import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { escapeTerminal } from "../../src/cli/terminal-text.js";
import { OP } from "../../src/formats/pickle/opcodes.js";
import { fixture, repoRoot, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";
import { dict, pickle, str, tensor } from "../formats/pickle/builder.js";
import { buildTorchZip } from "../formats/torch/zip-builder.js";

/** Anything a terminal would act on, other than the newline that ends each line. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

// A tensor name forging two output lines, clearing the screen, retitling the window (OSC) and reversing text.
const FORGED = "x\ntruecast: ok\nbit-exact: 1/1";
const HOSTILE = ["\u001b[2J\u001b]0;owned\u0007y", "z\u202egnp.exe\u009b31m\u007f"];

test("control characters, C1, DEL, bidi controls and line separators become visible escapes; other text stays", () => {
  assert.equal(escapeTerminal(FORGED), "x\\ntruecast: ok\\nbit-exact: 1/1");
  assert.equal(escapeTerminal(HOSTILE[0] as string), "\\e[2J\\e]0;owned\\x07y");
  assert.equal(escapeTerminal(HOSTILE[1] as string), "z\\u{202e}gnp.exe\\x9b31m\\x7f");
  assert.equal(escapeTerminal("\r\t\u0000\u2028\u2066"), "\\r\\t\\x00\\u{2028}\\u{2066}");
  assert.equal(escapeTerminal("café → 日本 🙂 C:\\path"), "café → 日本 🙂 C:\\path");
});

test("inspect and export print hostile tensor and folder names escaped, never raw", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const names = [FORGED, ...HOSTILE];
    const src = join(dir, "m\u001b[2J\nbit-exact: 9/9");
    await writeModelFolder(src, {
      tensors: names.map((name, i) => ({ name, dtype: "BF16" as const, shape: [2, 4], data: bf16Weights(8, i + 1) })),
      config: { torch_dtype: "bfloat16" },
    });
    const inspect = await cli(["inspect", src]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.doesNotMatch(inspect.stdout, RAW_CONTROL);
    const lines = inspect.stdout.split("\n");
    assert.ok(lines.some((l) => l.startsWith("  x\\ntruecast: ok\\nbit-exact: 1/1  BF16[2, 4]")), inspect.stdout);
    assert.ok(lines.some((l) => l.startsWith("  \\e[2J\\e]0;owned\\x07y  BF16")), inspect.stdout);
    assert.ok(lines.some((l) => l.startsWith("  z\\u{202e}gnp.exe\\x9b31m\\x7f  BF16")), inspect.stdout);
    assert.equal(lines[0], `${join(dir, "m\\e[2J\\nbit-exact: 9/9")}: Hugging Face folder (safetensors)`);
    assert.ok(!lines.includes("truecast: ok") && !lines.includes("bit-exact: 1/1"), "no forged line");

    const out = join(dir, "out");
    const exported = await cli(["export", src, out]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.doesNotMatch(exported.stdout, RAW_CONTROL);
    assert.ok(exported.stdout.startsWith(`exported Hugging Face folder (safetensors) ${join(dir, "m\\e[2J\\nbit-exact: 9/9")} → ${out}\n`), exported.stdout);
    assert.equal(exported.stdout.split("\n").filter((l) => l.startsWith("bit-exact:")).length, 1, "only truecast's own summary line");
  } finally {
    await cleanup();
  }
});

test("an error quoting a pickle GLOBAL with control bytes is one escaped line", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const payload = [str("os\u001b[2J"), str("system\ntruecast: ok\u009b"), OP.STACK_GLOBAL];
    const state = pickle(dict(
      [str("w"), tensor({ cls: "FloatStorage", key: "0", numel: 2, offset: 0, size: [2], stride: [1] })],
      [str("payload"), payload],
    ));
    const path = join(dir, "evil.pt");
    await writeFile(path, buildTorchZip({ pickle: state, storages: { "0": new Uint8Array(new Float32Array([1, 2]).buffer) } }));
    const r = await cli(["inspect", path]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.split("\n").length, 2, r.stderr);
    assert.match(r.stderr, /^truecast: .*wants to call os\\e\[2J\.system\\ntruecast: ok\\x9b; refusing to load it/);
    assert.doesNotMatch(r.stderr, RAW_CONTROL);
  } finally {
    await cleanup();
  }
});

const BIN = join(repoRoot(), "dist", "src", "cli", "main.js");

test("a cfg.yaml that makes the yaml parser warn prints nothing on stderr", { skip: !existsSync(BIN) && "not built" }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const exp = join(dir, "exp");
    await cp(fixture("h2o", "full"), exp, { recursive: true });
    const yaml = await readFile(join(exp, "cfg.yaml"), "utf8");
    // An unknown directive and an unresolved tag: both are warnings, not errors, for the yaml package.
    await writeFile(join(exp, "cfg.yaml"), "%FOO bar\n---\n" + yaml.replace(/^llm_backbone: /m, "llm_backbone: !custom "));
    await mkdir(join(dir, "home"));
    const env = { PATH: process.env["PATH"] ?? "", HOME: join(dir, "home"), HF_HUB_CACHE: fixture("h2o", "hf-cache"), HF_HUB_OFFLINE: "1" };
    for (const args of [["inspect", exp], ["export", exp, join(dir, "out"), "--quiet"]]) {
      const r = await promisify(execFile)(process.execPath, [BIN, ...args], { env });
      assert.equal(r.stderr, "", args[0]);
    }
    assert.ok(existsSync(join(dir, "out", "config.json")));
  } finally {
    await cleanup();
  }
});
