/**
 * The clean-up of staging folders left by killed runs must never reach what this user did not create: a folder named
 * like a staging folder but owned by another user (truecast run as root over a shared TMPDIR or output parent), a
 * symbolic link named like one, or a folder of a live process (a reused pid) is left as it is; only this user's
 * dead folders go. Both clean-ups are attacked: the `<out>` parent's (`.<name>.truecast-…`) and the private
 * temporary folders of `export --push` without `<out>` (`truecast-push-…` under TMPDIR, which may be a symlink).
 */
import assert from "node:assert/strict";
import { chown, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { PushStaging } from "../../src/cli/export-push-extras.js";
import { hostTag, removeStaleStaging } from "../../src/export/stale-staging.js";
import { tempDir } from "../helpers.js";

/** Another user's id: only root can make a folder theirs. */
const OTHER_UID = 65534;
const SKIP = process.getuid?.() === 0 ? false : "only root can give a folder to another user";

async function planted(dir: string, names: { mine: string; theirs: string; link: string }, target: string): Promise<void> {
  for (const name of [names.mine, names.theirs]) {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, "shard"), name);
  }
  await chown(join(dir, names.theirs), OTHER_UID, OTHER_UID);
  await chown(join(dir, names.theirs, "shard"), OTHER_UID, OTHER_UID);
  await symlink(target, join(dir, names.link));
}

test("<out>'s parent: another user's dead staging folder and a link named like one stay; this user's goes", { skip: SKIP }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const tag = hostTag();
    const victim = join(dir, "victim");
    await mkdir(victim);
    await writeFile(join(victim, "keep"), "x");
    const names = { mine: `.out.truecast-4242-${tag}0badc0de`, theirs: `.other.truecast-4243-${tag}12345678`, link: `.lnk.truecast-4244-${tag}cafebabe` };
    await planted(dir, names, victim);
    const removed = await removeStaleStaging(dir, () => false);
    assert.deepEqual(removed, [`removed ${join(dir, names.mine)}, left behind by process 4242, which is gone`]);
    assert.deepEqual((await readdir(dir)).sort(), [names.link, names.theirs, "victim"].sort());
    assert.deepEqual(await readdir(join(dir, names.theirs)), ["shard"]);
    assert.deepEqual(await readdir(victim), ["keep"]);
  } finally {
    await cleanup();
  }
});

test("export --push without <out>: under a TMPDIR that is a symlink, only this user's dead push folders are removed", { skip: SKIP }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const tag = hostTag();
    const real = join(dir, "real-tmp");
    await mkdir(real);
    const victim = join(dir, "victim");
    await mkdir(victim);
    await writeFile(join(victim, "keep"), "x");
    const names = { mine: `truecast-push-999999991-${tag}-aB3dE9`, theirs: `truecast-push-999999992-${tag}-xY7zQ1`, link: `truecast-push-999999993-${tag}-Lnk000` };
    await planted(real, names, victim);
    const alive = `truecast-push-${process.pid}-${tag}-Alive0`;
    await mkdir(join(real, alive));
    await symlink(real, join(dir, "tmp-link"));
    const staging = await PushStaging.create({ cwd: dir, env: { TMPDIR: join(dir, "tmp-link") }, stdout: { write: () => true }, stderr: { write: () => true } });
    try {
      const left = (await readdir(real)).filter((n) => join(real, n) !== staging.dir.replace(join(dir, "tmp-link"), real));
      assert.deepEqual(left.sort(), [alive, names.link, names.theirs].sort());
      assert.deepEqual(await readdir(join(real, names.theirs)), ["shard"]);
      assert.deepEqual(await readdir(victim), ["keep"]);
    } finally {
      await staging.remove();
    }
    assert.deepEqual((await readdir(real)).sort(), [alive, names.link, names.theirs].sort());
  } finally {
    await cleanup();
  }
});
