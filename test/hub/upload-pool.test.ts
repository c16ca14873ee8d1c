import { test } from "node:test";
import assert from "node:assert/strict";
import { runUploadPool } from "../../src/hub/upload-pool.js";

/** A promise with its resolve/reject, to drive fake uploads step by step. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

test("the next item starts only when the one before it is hashed, and results keep the items' order", async () => {
  const log: string[] = [];
  const hashedGate = new Map<string, ReturnType<typeof deferred>>();
  const doneGate = new Map<string, ReturnType<typeof deferred>>();
  for (const k of ["a", "b", "c"]) {
    hashedGate.set(k, deferred());
    doneGate.set(k, deferred());
  }
  const run = runUploadPool({
    items: ["a", "b", "c"],
    limit: 3,
    work: async (k, hashed) => {
      log.push(`start ${k}`);
      await hashedGate.get(k)?.promise;
      log.push(`hashed ${k}`);
      hashed();
      await doneGate.get(k)?.promise;
      log.push(`done ${k}`);
      return k.toUpperCase();
    },
    onFirstError: () => assert.fail("no error expected"),
  });
  await tick();
  assert.deepEqual(log, ["start a"], "b waits for a's hash");
  hashedGate.get("a")?.resolve();
  await tick();
  assert.deepEqual(log, ["start a", "hashed a", "start b"], "b starts while a uploads");
  hashedGate.get("b")?.resolve();
  await tick();
  assert.deepEqual(log.slice(3), ["hashed b", "start c"]);
  // Finishing out of order still gives results in item order.
  hashedGate.get("c")?.resolve();
  doneGate.get("c")?.resolve();
  doneGate.get("b")?.resolve();
  doneGate.get("a")?.resolve();
  assert.deepEqual(await run, ["A", "B", "C"]);
});

test("an item that never signals `hashed` lets the next one start when it settles", async () => {
  const order: string[] = [];
  const out = await runUploadPool({
    items: [1, 2, 3],
    limit: 2,
    work: async (n) => {
      order.push(`start ${n}`);
      await tick();
      order.push(`end ${n}`);
      return n * 10;
    },
    onFirstError: () => assert.fail("no error expected"),
  });
  assert.deepEqual(out, [10, 20, 30]);
  assert.deepEqual(order, ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
});

test("never more than `limit` items in progress, even when each is hashed at once", async () => {
  let active = 0;
  let peak = 0;
  const out = await runUploadPool({
    items: Array.from({ length: 9 }, (_, i) => i),
    limit: 3,
    work: async (i, hashed) => {
      active++;
      peak = Math.max(peak, active);
      hashed();
      for (let k = 0; k < 3; k++) await tick();
      active--;
      return i;
    },
    onFirstError: () => assert.fail("no error expected"),
  });
  assert.equal(peak, 3);
  assert.deepEqual(out, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
});

test("after the first failure no item starts, onFirstError runs once, and the first error is thrown after the others settle", async () => {
  const started: number[] = [];
  let cancels = 0;
  let inFlightSettled = false;
  const gate = deferred();
  await assert.rejects(
    runUploadPool({
      items: [1, 2, 3, 4],
      limit: 2,
      work: async (n, hashed) => {
        started.push(n);
        hashed();
        if (n === 1) {
          await gate.promise;
          inFlightSettled = true;
          throw new Error("cancelled 1");
        }
        throw new Error(`failed ${n}`);
      },
      onFirstError: () => {
        cancels++;
        gate.resolve();
      },
    }),
    (e: unknown) => e instanceof Error && e.message === "failed 2",
  );
  assert.deepEqual(started, [1, 2], "3 and 4 never start");
  assert.equal(cancels, 1);
  assert.ok(inFlightSettled, "item 1 settled before the pool returned");
});

test("a work function that throws before its first await is a failure like any other", async () => {
  await assert.rejects(
    runUploadPool({
      items: ["x"],
      limit: 1,
      work: (() => {
        throw new Error("at once");
      }) as () => Promise<never>,
      onFirstError: () => undefined,
    }),
    /at once/,
  );
});

test("with hashesAtOnce 2, two items hash side by side and the third starts once the first is hashed", async () => {
  const log: string[] = [];
  const hashedGate = new Map<string, ReturnType<typeof deferred>>();
  for (const k of ["a", "b", "c"]) hashedGate.set(k, deferred());
  const run = runUploadPool({
    items: ["a", "b", "c"],
    limit: 3,
    hashesAtOnce: 2,
    work: async (k, hashed) => {
      log.push(`start ${k}`);
      await hashedGate.get(k)?.promise;
      log.push(`hashed ${k}`);
      hashed();
      return k;
    },
    onFirstError: () => assert.fail("no error expected"),
  });
  await tick();
  assert.deepEqual(log, ["start a", "start b"], "c waits while two are unhashed");
  hashedGate.get("a")?.resolve();
  await tick();
  assert.deepEqual(log.slice(2), ["hashed a", "start c"]);
  hashedGate.get("b")?.resolve();
  hashedGate.get("c")?.resolve();
  assert.deepEqual(await run, ["a", "b", "c"]);
});
