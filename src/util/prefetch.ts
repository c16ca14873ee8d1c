/**
 * Pull up to `depth` items ahead of the consumer, so that the producer's I/O (reads on libuv's thread pool)
 * overlaps with the consumer's work. Memory stays bounded by `depth` items.
 */
export async function* prefetch<T>(source: AsyncIterable<T>, depth: number): AsyncGenerator<T> {
  const iter = source[Symbol.asyncIterator]();
  const queue: Promise<IteratorResult<T>>[] = [];
  const ask = () => {
    const p = iter.next();
    // A queued read may fail after the consumer stopped listening; it is awaited below or dropped on purpose.
    p.catch(() => undefined);
    queue.push(p);
  };
  let finished = false;
  try {
    for (let i = 0; i < depth; i++) ask();
    for (;;) {
      const next = queue.shift();
      if (!next) return;
      const r = await next;
      if (r.done) {
        finished = true;
        return;
      }
      ask();
      yield r.value;
    }
  } finally {
    if (!finished) await iter.return?.(undefined);
  }
}
