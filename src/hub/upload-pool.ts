/**
 * The order in which publishFolder uploads files: at most `limit` at once, and each file started only when the
 * file started before it has been hashed. A file's sha256 must be known before any of it is sent, and hashing
 * reads the whole file (on a worker thread, file-sha256.ts); started all at once, several multi-GB shards would be
 * hashed side by side, fighting for the disk and the cores, and no byte would leave before all of them were
 * hashed. Started one hash at a time, the first upload begins after one file's hash, and each next file is hashed
 * while the ones before it upload.
 */

export interface PoolParams<T, R> {
  items: readonly T[];
  /** Items in progress at once (at least 1). */
  limit: number;
  /** Does one item; calls `hashed` when the next item may start (it is also taken as called when work settles). */
  work: (item: T, hashed: () => void) => Promise<R>;
  /** Called once, at the first failure; it should cancel the work in flight. */
  onFirstError: () => void;
}

/**
 * Results in the order of `items`. After a failure no new item starts, `onFirstError` runs, and the first error
 * is thrown once the items in flight have settled, so nothing keeps uploading after this returns.
 */
export async function runUploadPool<T, R>(params: PoolParams<T, R>): Promise<R[]> {
  const { items, work, onFirstError } = params;
  const limit = Math.max(1, params.limit);
  const out: R[] = new Array<R>(items.length);
  const running = new Set<Promise<void>>();
  let firstError: { e: unknown } | null = null;
  for (let i = 0; i < items.length && firstError === null; i++) {
    while (running.size >= limit) await Promise.race(running);
    if (firstError !== null) break;
    let release: () => void = () => undefined;
    const hashed = new Promise<void>((resolve) => (release = resolve));
    const index = i;
    // Started from a resolved promise, so `task` is assigned before its finally can run, even if work throws at once.
    const task: Promise<void> = Promise.resolve()
      .then(() => work(items[index] as T, release))
      .then(
        (r) => {
          out[index] = r;
        },
        (e: unknown) => {
          if (firstError === null) {
            firstError = { e };
            onFirstError();
          }
        },
      )
      .finally(() => {
        release();
        running.delete(task);
      });
    running.add(task);
    await hashed;
  }
  await Promise.all(running);
  if (firstError !== null) throw (firstError as { e: unknown }).e;
  return out;
}
