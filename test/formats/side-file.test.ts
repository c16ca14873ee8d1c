import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jsonNestingDepth, yamlNestingDepth } from "../../src/formats/nesting-depth.js";
import {
  ADAPTER_CONFIG_FILE,
  CONFIG_FILE,
  INDEX_FILE,
  MAX_CONFIG_FILE_SIZE,
  MAX_SIDE_FILE_DEPTH,
  MAX_YAML_CONFIG_SIZE,
  parseSideJson,
  readSideFile,
} from "../../src/formats/side-file.js";
import { parseH2oConfig, readH2oConfig } from "../../src/sources/h2o-config.js";
import { tempDir } from "../helpers.js";

test("JSON depth is counted outside strings only", () => {
  assert.equal(jsonNestingDepth('{"a": [1, {"b": "[[[{{{\\"]]]"}]}', 100), 3);
  assert.equal(jsonNestingDepth("1", 100), 0);
  assert.equal(jsonNestingDepth("[".repeat(10_000), 128), 129, "stops as soon as the limit is passed");
});

test("YAML depth counts indentation, compact indicators and flow brackets, not quoted or commented ones", () => {
  assert.equal(yamlNestingDepth("a:\n  b:\n    c: [1, {d: 2}]\n", 100), 6);
  assert.equal(yamlNestingDepth("a: \"[[[[\" # [[[[\nb: it's [1]\nc: '{{'\n", 100), 1);
  assert.equal(yamlNestingDepth("- - - x\n", 100), 6);
  assert.ok(yamlNestingDepth("- ".repeat(5000) + "x\n", 128) > 128);
});

test("a side file over its cap is refused before it is read, naming the file and the limit", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = join(dir, "config.json");
    await writeFile(path, " ".repeat(MAX_CONFIG_FILE_SIZE) + "{}");
    await assert.rejects(readSideFile(path, CONFIG_FILE), {
      code: "CONFIG_INVALID",
      message: `${path}: ${MAX_CONFIG_FILE_SIZE + 2} bytes, more than the ${MAX_CONFIG_FILE_SIZE} bytes a model config can need (truecast's limit); fix or restore it`,
    });
    await assert.rejects(readSideFile(path, ADAPTER_CONFIG_FILE), { code: "ADAPTER_INVALID" });
    await writeFile(path, " ".repeat(MAX_CONFIG_FILE_SIZE - 2) + "{}");
    assert.equal((await readSideFile(path, CONFIG_FILE)).length, MAX_CONFIG_FILE_SIZE, "exactly at the cap is fine");
    const cfg = join(dir, "cfg.yaml");
    await writeFile(cfg, "llm_backbone: x\n" + "#".repeat(MAX_YAML_CONFIG_SIZE));
    await assert.rejects(readH2oConfig(cfg), {
      code: "CONFIG_INVALID",
      message: `${cfg}: ${MAX_YAML_CONFIG_SIZE + 16} bytes, more than the ${MAX_YAML_CONFIG_SIZE} bytes an H2O LLM Studio cfg.yaml can need (truecast's limit); fix the experiment's cfg.yaml`,
    });
    await assert.rejects(readSideFile(dir, CONFIG_FILE), { code: "CONFIG_INVALID", message: `${dir}: not a regular file; fix or restore it` });
    await writeFile(path, Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]));
    await assert.rejects(readSideFile(path, INDEX_FILE), {
      code: "INDEX_INVALID",
      message: `${path}: not valid UTF-8; restore the index from where the shards came from`,
    });
  } finally {
    await cleanup();
  }
});

test("nesting past the bound is refused before JSON.parse or the yaml parser sees it", () => {
  const deep = (n: number) => '{"a": ' + "[".repeat(n) + "]".repeat(n) + "}";
  // deep(n) nests n + 1 levels: the bound itself is accepted.
  assert.deepEqual(parseSideJson(deep(MAX_SIDE_FILE_DEPTH - 1), "/m/config.json", CONFIG_FILE), JSON.parse(deep(MAX_SIDE_FILE_DEPTH - 1)));
  for (const n of [MAX_SIDE_FILE_DEPTH, 10_000]) {
    assert.throws(() => parseSideJson(deep(n), "/m/config.json", CONFIG_FILE), {
      code: "CONFIG_INVALID",
      message: `/m/config.json: nested deeper than ${MAX_SIDE_FILE_DEPTH} levels (truecast's limit); fix or restore it`,
    });
  }
  assert.throws(() => parseSideJson("[".repeat(10_000), "/a/adapter_config.json", ADAPTER_CONFIG_FILE), { code: "ADAPTER_INVALID" });
  let yaml = "llm_backbone: x\n";
  for (let i = 0; i < 1000; i++) yaml += " ".repeat(i) + "k:\n";
  assert.throws(() => parseH2oConfig(yaml, "/e/cfg.yaml"), {
    code: "CONFIG_INVALID",
    message: `/e/cfg.yaml: nested or indented deeper than ${MAX_SIDE_FILE_DEPTH} levels (truecast's limit); fix the experiment's cfg.yaml`,
  });
  assert.throws(() => parseH2oConfig("llm_backbone: " + "[".repeat(10_000) + "\n", "/e/cfg.yaml"), /nested or indented deeper than 128 levels/);
});
