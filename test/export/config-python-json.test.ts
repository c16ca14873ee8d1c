/**
 * config.json is read as Python's json reads it (transformers 4.44.2 opens it as UTF-8 and calls json.loads):
 * NaN, Infinity and -Infinity are accepted and kept byte for byte, and a UTF-8 byte order mark, which
 * transformers refuses ("not a valid JSON file"), is refused with one line before anything is written.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";
import { bf16Weights, writeModelFolder } from "../support/build-model.js";

const tensors = [{ name: "w", dtype: "BF16" as const, shape: [4, 8], data: bf16Weights(32, 3) }];

test("export: NaN, Infinity and -Infinity in config.json are accepted and kept byte for byte; only the dtype keys change", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, { tensors });
    const text = '{\n  "a": NaN,\n  "b": [Infinity, -Infinity],\n  "s": "NaN Infinity",\n  "torch_dtype": "float32"\n}\n';
    await writeFile(join(src, "config.json"), text);
    const r = await cli(["export", src, join(dir, "out")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await readFile(join(dir, "out", "config.json"), "utf8"),
      '{\n  "a": NaN,\n  "b": [Infinity, -Infinity],\n  "dtype": "bfloat16",\n  "s": "NaN Infinity",\n  "torch_dtype": "bfloat16"\n}\n',
    );
    const inspect = await cli(["inspect", join(dir, "out")]);
    assert.equal(inspect.code, 0, inspect.stderr);
  } finally {
    await cleanup();
  }
});

test("export and inspect refuse a config.json that starts with a UTF-8 BOM, with one line, and write nothing", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, "src");
    await writeModelFolder(src, { tensors });
    await writeFile(join(src, "config.json"), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"torch_dtype": "bfloat16"}\n')]));
    const out = join(dir, "out");
    const r = await cli(["export", src, out]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^truecast: \S*config\.json: starts with a UTF-8 byte order mark, which Python's json \(and so transformers\) refuses; save it as UTF-8 without a BOM; fix or restore it\n$/);
    assert.equal(existsSync(out), false);
    assert.deepEqual((await readdir(dir)).sort(), ["src"]);
    const i = await cli(["inspect", src]);
    assert.equal(i.code, 1);
    assert.match(i.stderr, /^truecast: .*byte order mark/);
  } finally {
    await cleanup();
  }
});
