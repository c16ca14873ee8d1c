/**
 * Hostile or broken Hub behaviours for the double, each a `respond` for a fault (`d.faults.add({ kind: "respond",
 * match, respond: trickle(...) })`): an answer trickled a byte at a time, a server that never answers, a JSON body
 * of any size streamed without holding it, tree pages that never end or loop, and arbitrary raw answers.
 * Every one stops by itself when the client goes away or the double stops.
 */
import type { DoubleContext } from "./hub-double.js";

/** Runs `tick` every `ms` until it returns false or the connection closes. */
function every(ctx: DoubleContext, ms: number, tick: () => boolean): void {
  const t = setInterval(() => {
    if (ctx.res.destroyed || !tick()) clearInterval(t);
  }, ms);
  ctx.res.on("close", () => clearInterval(t));
}

/** 200 with `body`, sent `bytesPerTick` bytes every `intervalMs` (a whoami that takes minutes to arrive). */
export function trickle(body: string, opts: { intervalMs?: number; bytesPerTick?: number } = {}) {
  return (ctx: DoubleContext): void => {
    ctx.req.resume();
    const bytes = Buffer.from(body);
    ctx.res.writeHead(200, { "Content-Type": "application/json", "Content-Length": String(bytes.length) });
    let at = 0;
    const n = opts.bytesPerTick ?? 1;
    every(ctx, opts.intervalMs ?? 200, () => {
      ctx.res.write(bytes.subarray(at, at + n));
      at += n;
      if (at >= bytes.length) ctx.res.end();
      return at < bytes.length;
    });
  };
}

/** Reads the request and never answers (the connection stays open until the client gives up). */
export function hang() {
  return (ctx: DoubleContext): void => {
    ctx.req.resume();
  };
}

/**
 * 200 with a JSON object of about `bytes` bytes (`{"name":"aaaa…"}`), streamed in 1 MiB writes that wait for the
 * client, without a Content-Length (or with `contentLength`, which may lie).
 */
export function hugeJson(bytes: number, opts: { contentLength?: number } = {}) {
  return async (ctx: DoubleContext): Promise<void> => {
    ctx.req.resume();
    ctx.res.writeHead(200, { "Content-Type": "application/json", ...(opts.contentLength !== undefined && { "Content-Length": String(opts.contentLength) }) });
    const chunk = Buffer.alloc(1024 * 1024, "a");
    let left = bytes;
    const write = (b: Buffer) => new Promise<boolean>((resolve) => {
      if (ctx.res.destroyed) return resolve(false);
      if (ctx.res.write(b)) return resolve(true);
      const done = (ok: boolean) => {
        ctx.res.off("drain", onDrain);
        ctx.res.off("close", onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      ctx.res.on("drain", onDrain);
      ctx.res.on("close", onClose);
    });
    if (!(await write(Buffer.from('{"name":"')))) return;
    while (left > 0) {
      const b = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= b.length;
      if (!(await write(b))) return;
    }
    ctx.res.end('"}');
  };
}

/** 200 with a JSON `[]` page whose Link names the next page, for ever (each with a new cursor). */
export function endlessPages() {
  return (ctx: DoubleContext): void => {
    const next = new URL(ctx.url.pathname + ctx.url.search, ctx.hubOrigin);
    next.searchParams.set("cursor", String(Number(next.searchParams.get("cursor") ?? "0") + 1));
    ctx.res.setHeader("Link", `<${next.href}>; rel="next"`);
    ctx.send(200, []);
  };
}

/** 200 with a JSON `[]` page whose Link names `next(ctx)`: the page itself (a loop) or another host's URL. */
export function pageLinkingTo(next: (ctx: DoubleContext) => string) {
  return (ctx: DoubleContext): void => {
    ctx.res.setHeader("Link", `<${next(ctx)}>; rel="next"`);
    ctx.send(200, []);
  };
}

/** `status` with `body` sent as it is (not JSON-encoded). */
export function raw(body: string, status = 200, contentType = "application/json") {
  return (ctx: DoubleContext): void => {
    ctx.req.resume();
    ctx.res.writeHead(status, { "Content-Type": contentType });
    ctx.res.end(body);
  };
}
