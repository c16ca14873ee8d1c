/**
 * Provenance "options" are the options the user gave, in the CLI's spelling. An H2O LoRA experiment merges its
 * own adapter without any --adapter flag: neither the card nor truecast-report.json may claim one was passed
 * (the card's Precision section names the merged adapter instead).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fixture, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";

const F = (...p: string[]) => fixture("h2o-peft", ...p);

test("H2O LoRA experiment without --adapter: Provenance lists only --base, the merged adapter is named under Precision", async () => {
  const t = await tempDir();
  try {
    const out = join(t.dir, "out");
    const r = await cli(["export", F("gpt2-lora"), out, "--base", F("gpt2-base"), "-q"], { env: { HF_HUB_OFFLINE: "1" } });
    assert.equal(r.code, 0, r.stderr);
    const card = await readFile(join(out, "README.md"), "utf8");
    assert.match(card, /^- Options: `--base gpt2-base`$/m);
    assert.match(card, /^- Merged LoRA adapter: LoRA weights of the H2O LLM Studio experiment gpt2-lora \(r=4, alpha=8\)$/m);
    const report = JSON.parse(await readFile(join(out, "truecast-report.json"), "utf8")) as { provenance: { options: Record<string, unknown> } };
    assert.deepEqual(report.provenance.options, { base: "gpt2-base" });
  } finally {
    await t.cleanup();
  }
});
