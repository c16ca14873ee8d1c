import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { TruecastError } from "../../src/errors.js";
import { renderReportPage } from "../../src/report/render-page.js";
import { writeReportPage } from "../../src/report/write-page.js";
import { samplePage } from "./sample-page.js";

let dir: string;
before(async () => (dir = await mkdtemp(join(tmpdir(), "truecast-write-page-"))));
after(async () => rm(dir, { recursive: true, force: true }));

const page = samplePage({ tensors: 30 });

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TruecastError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
}

test("writes the rendered page, and leaves nothing else in the folder", async () => {
  const sub = await mkdtemp(join(dir, "ok-"));
  const file = join(sub, "report.html");
  await writeReportPage(file, page);
  assert.equal(await readFile(file, "utf8"), renderReportPage(page));
  assert.deepEqual(await readdir(sub), ["report.html"]);
});

test("an existing file is refused with OUTPUT_EXISTS and kept as it was, unless force", async () => {
  const sub = await mkdtemp(join(dir, "exists-"));
  const file = join(sub, "report.html");
  await writeFile(file, "mine");
  await rejectsWith(writeReportPage(file, page), "OUTPUT_EXISTS", /report\.html already exists; choose another file or pass --force/);
  assert.equal(await readFile(file, "utf8"), "mine");
  assert.deepEqual(await readdir(sub), ["report.html"]);
  await writeReportPage(file, page, { force: true });
  assert.equal(await readFile(file, "utf8"), renderReportPage(page));
  assert.deepEqual(await readdir(sub), ["report.html"]);
});

test("a symbolic link at the path counts as existing, and with force is replaced, not written through", async () => {
  const sub = await mkdtemp(join(dir, "link-"));
  const target = join(sub, "elsewhere.txt");
  await writeFile(target, "keep me");
  const file = join(sub, "report.html");
  await symlink(target, file);
  await rejectsWith(writeReportPage(file, page), "OUTPUT_EXISTS", /already exists/);
  await symlink(join(sub, "missing"), join(sub, "dangling.html"));
  await rejectsWith(writeReportPage(join(sub, "dangling.html"), page), "OUTPUT_EXISTS", /already exists/);
  await writeReportPage(file, page, { force: true });
  assert.equal(await readFile(target, "utf8"), "keep me");
  assert.equal(await readFile(file, "utf8"), renderReportPage(page));
});

test("a folder at the path is refused even with force; a missing folder is NOT_FOUND", async () => {
  const sub = await mkdtemp(join(dir, "folder-"));
  await mkdir(join(sub, "report.html"));
  await rejectsWith(writeReportPage(join(sub, "report.html"), page, { force: true }), "OUTPUT_EXISTS", /is a folder; choose a file path/);
  await rejectsWith(writeReportPage(join(sub, "no", "such", "report.html"), page), "NOT_FOUND", /its folder does not exist/);
  assert.deepEqual(await readdir(sub), ["report.html"]);
});

test("a path under a file is NOT_FOUND, with one line", async () => {
  const sub = await mkdtemp(join(dir, "under-file-"));
  await writeFile(join(sub, "plain"), "x");
  await rejectsWith(writeReportPage(join(sub, "plain", "report.html"), page), "NOT_FOUND", /^cannot write the report page .*plain\/report\.html: its folder does not exist$/);
  assert.deepEqual(await readdir(sub), ["plain"]);
});
