/**
 * The order in which publishFolder uploads files: at most `limit` at once, and at most `hashesAtOnce` of them
 * started and not yet hashed. A file's sha256 must be known before any of it is sent, and hashing reads the whole
 * file (on a worker thread, util/file-sha256.ts); started all at once, several multi-GB shards would be hashed side by
 * side, fighting for the disk and the cores, and no byte would leave before all of them were hashed. With few
 * hashes at once, the first upload begins after about one file's hash, and the next files are hashed while the
 * ones before them upload.
 */

export interface PoolParams<T, R> {
  items: readonly T[];
  /** Items in progress at once (at least 1). */
  limit: number;
  /** Items started but not yet hashed, at most (at least 1). Default 1. */
  hashesAtOnce?: number;
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
  const hashesAtOnce = Math.max(1, params.hashesAtOnce ?? 1);
  const running = new Set<Promise<void>>();
  /** `hashed` of the items started, oldest first, until they are awaited. */
  const unhashed: Array<Promise<void>> = [];
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
    unhashed.push(hashed);
    // Waiting for the oldest is conservative: a later, smaller file may be hashed first, but never more than
    // `hashesAtOnce` are unhashed at once.
    while (unhashed.length >= hashesAtOnce) await unhashed.shift();
  }
  await Promise.all(running);
  if (firstError !== null) throw (firstError as { e: unknown }).e;
  return out;
}
