/**
 * Stale staging folders are judged by their process id only on the machine that made them: a run on another
 * host (a shared network folder) or in another container has ids this machine cannot see, so its live folder
 * must be neither removed nor, mid-replace, have its `.old` moved back over the output.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "../helpers.js";
import { hostTag, removeStaleStaging, stagingName } from "../../src/export/stale-staging.js";

test("a staging name carries this machine's tag; only this machine's dead folders (and pre-tag ones) are removed", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const mine = hostTag();
    const other = hostTag("another-node-of-the-cluster");
    assert.notEqual(mine, other);
    assert.match(stagingName(join(dir, "out")), new RegExp(`^\\.out\\.truecast-${process.pid}-${mine}[0-9a-f]{8}$`));
    const names = {
      ownDead: `.out.truecast-4242-${mine}0badc0de`,
      otherLive: `.out.truecast-4242-${other}cafebabe`,
      otherOld: `.prev.truecast-4243-${other}12345678.old`,
      legacyDead: `.out.truecast-4244-deadbeef`,
    };
    for (const name of Object.values(names)) {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, "shard"), name);
    }
    // Every pid counts as gone here, as it does for another machine's ids.
    const removed = await removeStaleStaging(dir, () => false);
    assert.deepEqual(
      [...removed].sort(),
      [names.legacyDead, names.ownDead].map((n) => `removed ${join(dir, n)}, left behind by process ${n.split("-")[1]}, which is gone`).sort(),
    );
    // Another machine's run mid-replace: its previous output stays where that run put it, not moved to `prev`.
    assert.deepEqual((await readdir(dir)).sort(), [names.otherLive, names.otherOld].sort());
    assert.equal(await readFile(join(dir, names.otherLive, "shard"), "utf8"), names.otherLive);
  } finally {
    await cleanup();
  }
});
