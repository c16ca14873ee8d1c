import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { rewriteConfigDtype } from "../../src/export/config.js";
import { fixture, repoRoot, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";

// Configs written by transformers 4.44.2 itself (scripts/fixtures/configs.py): sorted keys, indent 2, "2.0", "1e-05".
const configText = (name: string) => readFile(fixture("configs", `${name}.json`), "utf8");

/** `text` with one exact substring replaced, failing the test if it is not there exactly once. */
function replaceOnce(text: string, from: string, to: string): string {
  assert.equal(text.split(from).length, 2, `${JSON.stringify(from)} occurs once`);
  return text.replace(from, to);
}

test("Llama 3.1 config: only torch_dtype changes and dtype is inserted in key order; 8.0, 1e-05, 500000.0 stay", async () => {
  const text = await configText("llama31");
  const expected = replaceOnce(
    replaceOnce(text, '  "torch_dtype": "bfloat16",\n', '  "torch_dtype": "float32",\n'),
    '  "eos_token_id": 2,\n',
    '  "dtype": "float32",\n  "eos_token_id": 2,\n',
  );
  assert.equal(rewriteConfigDtype(text, "F32"), expected);
});

test("GPT-NeoX and Phi with linear rope scaling keep \"factor\": 2.0; Phi gets both keys", async () => {
  const neox = await configText("gpt_neox_linear");
  assert.equal(
    rewriteConfigDtype(neox, "BF16"),
    replaceOnce(replaceOnce(neox, '"torch_dtype": "float16"', '"torch_dtype": "bfloat16"'), '  "eos_token_id"', '  "dtype": "bfloat16",\n  "eos_token_id"'),
  );
  const phi = await configText("phi_linear");
  const out = rewriteConfigDtype(phi, "F16");
  assert.equal(
    out,
    replaceOnce(
      replaceOnce(phi, '  "embd_pdrop"', '  "dtype": "float16",\n  "embd_pdrop"'),
      '  "transformers_version"',
      '  "torch_dtype": "float16",\n  "transformers_version"',
    ),
  );
  assert.match(out, /"factor": 2\.0,/);
});

test("export: a config.json already stating the written dtype is copied byte for byte; another is edited in place", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const tensors = [{ name: "w", dtype: "BF16" as const, shape: [4, 8], data: bf16Weights(32, 3) }];
    const src = join(dir, "src");
    await writeModelFolder(src, { tensors });
    // Both keys already say bfloat16, with CRLF, tabs, an escape and no final newline: nothing may change.
    const same = '{\r\n\t"name": "caf\\u00e9",\r\n\t"factor": 2.0,\r\n\t"torch_dtype": "bfloat16",\r\n\t"dtype": "bfloat16"\r\n}';
    await writeFile(join(src, "config.json"), same);
    assert.equal((await cli(["export", src, join(dir, "out1")])).code, 0);
    assert.deepEqual(await readFile(join(dir, "out1", "config.json")), Buffer.from(same));

    await copyFile(fixture("configs", "gpt_neox_linear.json"), join(src, "config.json"));
    const r = await cli(["export", src, join(dir, "out2")]);
    assert.equal(r.code, 0, r.stderr);
    const neox = await configText("gpt_neox_linear");
    const expected = replaceOnce(replaceOnce(neox, '"torch_dtype": "float16"', '"torch_dtype": "bfloat16"'), '  "eos_token_id"', '  "dtype": "bfloat16",\n  "eos_token_id"');
    assert.equal(await readFile(join(dir, "out2", "config.json"), "utf8"), expected);
  } finally {
    await cleanup();
  }
});

/** The conformance environment, which `npm test` makes before the Node suite runs (test/conformance/run.sh --setup-only). */
const PYTHON = join(repoRoot(), ".venv-conformance", "bin", "python");
const CHECK = `
import sys, warnings, logging, transformers
logging.captureWarnings(True)
transformers.logging.set_verbosity_warning()
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    c = transformers.AutoConfig.from_pretrained(sys.argv[1])
print(type(c).__name__, repr(c.rope_scaling["factor"]), c.torch_dtype)
`;

test(
  "transformers 4.44 accepts the exported GPT-NeoX config (rope_scaling factor still a float)",
  { skip: !existsSync(PYTHON) && "no .venv-conformance: run test/conformance/run.sh --setup-only" },
  async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await writeModelFolder(join(dir, "src"), { tensors: [{ name: "w", dtype: "BF16", shape: [4, 8], data: bf16Weights(32, 3) }] });
      await copyFile(fixture("configs", "gpt_neox_linear.json"), join(dir, "src", "config.json"));
      assert.equal((await cli(["export", join(dir, "src"), join(dir, "out")])).code, 0);
      const { stdout, stderr } = await promisify(execFile)(PYTHON, ["-c", CHECK, join(dir, "out")], { env: { ...process.env, TRANSFORMERS_VERBOSITY: "warning" } });
      assert.equal(stdout, "GPTNeoXConfig 2.0 torch.bfloat16\n");
      assert.equal(stderr, "");
    } finally {
      await cleanup();
    }
  },
);
