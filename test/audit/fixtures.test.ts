/**
 * `truecast audit` on models saved by real transformers 4.44.2 / PyTorch 1.13 (test/fixtures/audit, made by
 * scripts/fixtures/audit_models.py): the intact model passes, each damaged one is flagged with its code, naming
 * the tensors and files, through the library, the CLI's exit status and its JSON.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { auditModel, type AuditResult } from "../../src/audit/audit.js";
import { openLocalStore } from "../../src/store/local-store.js";
import { join } from "node:path";
import { fixture, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";

const DOWN = "model.layers.0.mlp.down_proj.weight";
const Q = "model.layers.0.self_attn.q_proj.weight";

async function audit(name: string, values: boolean): Promise<AuditResult> {
  const store = await openLocalStore(fixture("audit", name));
  try {
    return await auditModel({ store, values });
  } finally {
    await store.close();
  }
}

function codes(r: AuditResult, severity?: string): string[] {
  return r.findings.filter((f) => severity === undefined || f.severity === severity).map((f) => f.code);
}

function only(r: AuditResult, code: string) {
  const found = r.findings.filter((f) => f.code === code);
  assert.equal(found.length, 1, `${code} once in ${JSON.stringify(codes(r))}`);
  return found[0] as (typeof found)[number];
}

describe("audit: the intact model passes", () => {
  it("has no error and no warning, headers only and with --values", async () => {
    for (const values of [false, true]) {
      const r = await audit("intact", values);
      assert.deepEqual(codes(r), [], JSON.stringify(r.findings));
      assert.equal(r.ok, true);
      assert.equal(r.verdict.severity, "ok");
      assert.equal(r.tensors.length, 12);
      if (values) for (const t of r.tensors) assert.equal(t.values?.posInf, 0, t.name);
    }
  });

  it("exits 0, verdict first", async () => {
    const out = await cli(["audit", fixture("audit", "intact"), "--values"]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout.split("\n")[0] ?? "", /^PASS: .*intact: intact: no errors, no warnings \(headers and values\)$/);
  });
});

describe("audit: damaged models are flagged", () => {
  it("bfloat16 → float16 overflow: ±inf in down_proj (with --values), exit 1", async () => {
    const r = await audit("f16_overflow", true);
    const f = only(r, "F16_OVERFLOW_SIGNATURE");
    assert.equal(f.severity, "error");
    assert.deepEqual(f.tensors, [DOWN]);
    assert.match(f.message, /^3 values are ±inf in 1 float16 tensor/);
    const row = r.tensors.find((t) => t.name === DOWN);
    assert.equal(row?.values?.posInf, 2);
    assert.equal(row?.values?.negInf, 1);
    assert.deepEqual(codes(r, "error"), ["F16_OVERFLOW_SIGNATURE"]);
    const out = await cli(["audit", fixture("audit", "f16_overflow"), "--values"]);
    assert.equal(out.code, 1);
    assert.match(out.stdout, /^FAIL: .*damaged: 1 error \(F16_OVERFLOW_SIGNATURE\)\n/);
  });

  it("the same model passes from headers alone (float16 config, float16 tensors): the values need --values", async () => {
    const out = await cli(["audit", fixture("audit", "f16_overflow")]);
    assert.equal(out.code, 0, out.stdout);
  });

  it("values clamped to ±65504 before .half(): F16_CLAMP_SIGNATURE counts them", async () => {
    const r = await audit("f16_clamped", true);
    const f = only(r, "F16_CLAMP_SIGNATURE");
    assert.equal(f.severity, "warning");
    assert.deepEqual(f.tensors, [DOWN]);
    assert.equal(r.tensors.find((t) => t.name === DOWN)?.values?.atF16Max, 3);
    assert.equal(r.ok, true);
  });

  it("config.json that says float32 for bfloat16 weights: CONFIG_DTYPE_MISMATCH from headers, exit 1", async () => {
    const r = await audit("config_lies", false);
    const f = only(r, "CONFIG_DTYPE_MISMATCH");
    assert.equal(f.severity, "error");
    assert.equal(f.message, 'config.json torch_dtype says "float32" but the tensors are bfloat16; transformers loads in the config\'s dtype');
    assert.deepEqual(f.files, ["config.json"]);
    const out = await cli(["audit", fixture("audit", "config_lies")]);
    assert.equal(out.code, 1);
  });

  it("tied head stored twice: TIED_HEAD_STORED, the bytes compared with --values", async () => {
    const headers = only(await audit("tied_twice", false), "TIED_HEAD_STORED");
    assert.match(headers.message, /bytes not compared/);
    const r = await audit("tied_twice", true);
    const f = only(r, "TIED_HEAD_STORED");
    assert.equal(f.severity, "warning");
    assert.deepEqual(f.tensors, ["lm_head.weight", "model.embed_tokens.weight"]);
    assert.match(f.message, /duplicates model\.embed_tokens\.weight with the same bytes$/);
  });

  it("sharded model whose index disagrees: a missing shard, a tensor indexed elsewhere, an unlisted one, one stored twice", async () => {
    const r = await audit("sharded_bad", true);
    assert.deepEqual(only(r, "INDEX_SHARD_MISSING").tensors, ["lm_head.weight"]);
    assert.deepEqual(only(r, "INDEX_SHARD_MISSING").files, ["model-00003-of-00003.safetensors", "model.safetensors.index.json"]);
    assert.deepEqual(only(r, "INDEX_TENSOR_ELSEWHERE").tensors, ["model.norm.weight"]);
    assert.deepEqual(only(r, "INDEX_TENSOR_UNLISTED").tensors, ["model.layers.0.input_layernorm.weight"]);
    const twice = only(r, "TENSOR_STORED_TWICE");
    assert.equal(twice.severity, "error", "different bytes");
    assert.deepEqual(twice.tensors, [Q]);
    assert.deepEqual(codes(r, "error").sort(), ["INDEX_SHARD_MISSING", "INDEX_TENSOR_ELSEWHERE", "TENSOR_STORED_TWICE"]);
    assert.equal(codes(r).includes("TIED_HEAD_MISSING"), false, "the head is in the missing shard, reported once");
  });

  it("pickle-only weights: PICKLE_ONLY names torch's rebuild globals; a warning, exit 0", async () => {
    const r = await audit("pickle_only", false);
    const f = only(r, "PICKLE_ONLY");
    assert.equal(f.severity, "warning");
    assert.match(f.message, /calls torch\._utils\._rebuild_tensor_v2, torch\.BFloat16Storage, collections\.OrderedDict$/);
    assert.equal(r.tensors.length, 12);
    assert.equal((await cli(["audit", fixture("audit", "pickle_only"), "--values"])).code, 0);
  });

  it("a pickle that also names argparse.Namespace: PICKLE_UNSAFE_GLOBALS, its tensors still described, nothing run", async () => {
    const r = await audit("pickle_unsafe", true);
    const f = only(r, "PICKLE_UNSAFE_GLOBALS");
    assert.equal(f.severity, "error");
    assert.match(f.message, /outside torch's rebuild allowlist when loaded: argparse\.Namespace;/);
    assert.deepEqual(f.files, ["pytorch_model.bin"]);
    assert.equal(r.tensors.length, 12);
    assert.equal(r.tensors.filter((t) => t.values !== undefined).length, 12);
    assert.equal((await cli(["audit", fixture("audit", "pickle_unsafe")])).code, 1);
  });

  it("safetensors and .bin copies that differ in one tensor: FORMATS_DISAGREE with --values", async () => {
    const headers = await audit("two_formats", false);
    assert.deepEqual(codes(headers), ["WEIGHTS_IN_TWO_FORMATS"]);
    const r = await audit("two_formats", true);
    assert.deepEqual(only(r, "FORMATS_DISAGREE").tensors, [Q]);
    assert.equal(r.ok, false);
  });
});

describe("audit --json", () => {
  it("holds the schema version, the verdict, the findings, per-tensor stats and the request count", async () => {
    const out = await cli(["audit", fixture("audit", "f16_overflow"), "--values", "--json"]);
    assert.equal(out.code, 1);
    assert.equal(out.stderr, "");
    const j = JSON.parse(out.stdout) as Record<string, unknown> & {
      findings: { code: string; severity: string; tensors?: string[] }[];
      tensors: { name: string; dtype: string; values?: Record<string, number> }[];
    };
    assert.equal(j["schemaVersion"], 1);
    assert.equal(j["command"], "audit");
    assert.equal(j["ok"], false);
    assert.equal(j["requests"], 0);
    assert.equal(j["valuesScanned"], true);
    assert.deepEqual(j.findings.map((f) => [f.severity, f.code, f.tensors]), [["error", "F16_OVERFLOW_SIGNATURE", [DOWN]]]);
    const down = j.tensors.find((t) => t.name === DOWN);
    assert.equal(down?.dtype, "float16");
    assert.deepEqual(
      { posInf: down?.values?.["posInf"], negInf: down?.values?.["negInf"], nan: down?.values?.["nan"], elements: down?.values?.["elements"] },
      { posInf: 2, negInf: 1, nan: 0, elements: 512 },
    );
    assert.match(String(down?.values?.["digest"]), /^(xxh3-64|sha256):[0-9a-f]+$/);
  });
});

describe("audit after truecast export", () => {
  it("the export of the lying-config model and of the pickle-only model passes the audit that flagged them", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      for (const [name, code] of [["config_lies", "CONFIG_DTYPE_MISMATCH"], ["pickle_only", "PICKLE_ONLY"]] as const) {
        assert.ok(codes(await audit(name, false)).includes(code));
        const exported = await cli(["export", fixture("audit", name), join(dir, name), "-q"]);
        assert.equal(exported.code, 0, exported.stderr);
        const out = await cli(["audit", join(dir, name), "--values", "--json"]);
        assert.equal(out.code, 0, out.stdout);
        assert.deepEqual((JSON.parse(out.stdout) as { findings: unknown[] }).findings, []);
      }
    } finally {
      await cleanup();
    }
  });
});
