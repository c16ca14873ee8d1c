/** `truecast audit --html FILE`: the page is written atomically, an existing file is refused unless --force. */
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { PAGE_DATA_ID } from "../../src/report/render-page.js";
import { fixture, tempDir } from "../helpers.js";
import { cli } from "../support/cli.js";

function pageData(html: string): { verdict: { text: string }; findings: { code: string }[] } {
  const m = new RegExp(`<script[^>]*id="${PAGE_DATA_ID}"[^>]*>([\\s\\S]*?)</script>`).exec(html);
  assert.ok(m !== null, "the page holds its data");
  return JSON.parse(m[1] ?? "") as { verdict: { text: string }; findings: { code: string }[] };
}

describe("truecast audit --html", () => {
  it("writes the page with the verdict and findings, exits by the verdict, and leaves no temporary file", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const out = await cli(["audit", fixture("audit", "f16_overflow"), "--values", "--html", "page.html", "-q"], { cwd: dir });
      assert.equal(out.code, 1, out.stderr);
      assert.equal(out.stdout, "");
      const data = pageData(await readFile(join(dir, "page.html"), "utf8"));
      assert.equal(data.verdict.text, "damaged: 1 error (F16_OVERFLOW_SIGNATURE)");
      assert.deepEqual(data.findings.map((f) => f.code), ["F16_OVERFLOW_SIGNATURE"]);
      assert.deepEqual(await readdir(dir), ["page.html"]);
    } finally {
      await cleanup();
    }
  });

  it("refuses an existing file before auditing, replaces it with --force; --force alone is a usage error", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const page = join(dir, "page.html");
      await writeFile(page, "mine");
      const refused = await cli(["audit", fixture("audit", "intact"), "--html", page]);
      assert.equal(refused.code, 1);
      assert.equal(refused.stdout, "");
      assert.equal(refused.stderr, `truecast: ${page} already exists; choose another file or pass --force to replace it\n`);
      assert.equal(await readFile(page, "utf8"), "mine");
      const forced = await cli(["audit", fixture("audit", "intact"), "--html", page, "--force", "-q"]);
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(pageData(await readFile(page, "utf8")).verdict.text, /^intact: /);
      const alone = await cli(["audit", fixture("audit", "intact"), "--force"]);
      assert.equal(alone.code, 2);
      assert.match(alone.stderr, /^truecast: --force goes with --html/);
    } finally {
      await cleanup();
    }
  });
});
