/**
 * Kept-alive connections of the range-read client (src/store/http1-conn.ts) do not stay open for ever: one left idle
 * is closed by truecast after the pool's idle limit, and at once when the server's `Keep-Alive: timeout=N` says it
 * would close first; the next request then opens a new connection. Observed from a raw loopback server: the client's
 * end of the connection (FIN) arrives, the server never closing anything itself.
 */
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { test } from "node:test";
import { Http1Pool, idleLimitMs, IDLE_CONNECTION_MS } from "../../src/store/http1-conn.js";

const BODY = Buffer.from("0123456789");

/** A server answering every request with BODY; `clientEnds[i]` resolves when the client closes connection i. */
async function server(extra: string): Promise<{ origin: string; connections: () => number; clientEnds: Promise<void>[]; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const clientEnds: Promise<void>[] = [];
  const srv = createServer((sock) => {
    sockets.add(sock);
    sock.on("error", () => undefined);
    // allowHalfOpen is off: the server's side closes only after the client's FIN.
    clientEnds.push(new Promise((r) => sock.once("end", () => r())));
    let buf = "";
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      for (let i = buf.indexOf("\r\n\r\n"); i >= 0; i = buf.indexOf("\r\n\r\n")) {
        buf = buf.slice(i + 4);
        sock.write(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\nContent-Length: 10\r\n${extra}\r\n${BODY.toString("latin1")}`);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  return {
    origin: `http://127.0.0.1:${port}`, connections: () => clientEnds.length, clientEnds,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    }),
  };
}

async function get(pool: Http1Pool, origin: string): Promise<Buffer> {
  const a = await pool.request({ url: new URL(`${origin}/f`), headers: { Range: "bytes=0-9" }, signal: new AbortController().signal });
  const dest = new Uint8Array(20);
  let at = 0;
  for (let n = 1; n > 0; at += n) n = await a.fill(dest, at);
  assert.ok(a.ended);
  return Buffer.from(dest.subarray(0, at));
}

/** Resolves with whether `p` settled before a generous bound (a failure, not a measurement, when it did not). */
function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]).finally(() => clearTimeout(timer));
}

test("an idle kept-alive connection is closed by truecast after the idle limit; the next request opens a new one", async () => {
  const srv = await server("");
  const pool = new Http1Pool({ idleMs: 50 });
  try {
    assert.ok((await get(pool, srv.origin)).equals(BODY));
    assert.ok((await get(pool, srv.origin)).equals(BODY));
    assert.equal(srv.connections(), 1, "kept alive between two requests in a row");
    assert.equal(await within(srv.clientEnds[0] as Promise<void>, 20_000), true, "the idle connection was closed by the client");
    assert.ok((await get(pool, srv.origin)).equals(BODY));
    assert.equal(srv.connections(), 2, "a new connection after the idle one was closed");
  } finally {
    pool.close();
    await srv.close();
  }
});

test("a server's Keep-Alive timeout shortens the idle limit; one of a second or less means the connection is not kept", async () => {
  const srv = await server("Keep-Alive: timeout=1, max=100\r\n");
  const pool = new Http1Pool();
  try {
    assert.ok((await get(pool, srv.origin)).equals(BODY));
    assert.equal(await within(srv.clientEnds[0] as Promise<void>, 20_000), true, "closed by the client at the end of the answer");
    assert.ok((await get(pool, srv.origin)).equals(BODY));
    assert.equal(srv.connections(), 2);
  } finally {
    pool.close();
    await srv.close();
  }
  const h = (v: string) => new Headers({ "Keep-Alive": v });
  assert.equal(idleLimitMs(new Headers(), IDLE_CONNECTION_MS), IDLE_CONNECTION_MS);
  assert.equal(idleLimitMs(h("timeout=3"), IDLE_CONNECTION_MS), 2000);
  assert.equal(idleLimitMs(h("max=5, TIMEOUT = 2"), IDLE_CONNECTION_MS), 1000);
  assert.equal(idleLimitMs(h("timeout=600"), IDLE_CONNECTION_MS), IDLE_CONNECTION_MS, "never longer than truecast's own limit");
  assert.equal(idleLimitMs(h("timeout=0"), IDLE_CONNECTION_MS), 0);
  assert.equal(idleLimitMs(h("timeout=abc"), IDLE_CONNECTION_MS), IDLE_CONNECTION_MS, "a malformed hint is ignored");
});
