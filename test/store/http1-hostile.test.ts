/**
 * The HTTP/1.1 client of range reads (src/store/http1-conn.ts, through range-http.ts) against a raw loopback server
 * that writes exactly the bytes each test chooses: a head split across reads at every byte, interim 1xx answers, a
 * chunked body with extensions and trailers, `Connection: close`, bytes past the end of an answer (in the same read
 * or later), and answers that are not valid HTTP/1.1 (an oversized head, a malformed status line, obs-fold, two
 * Content-Lengths, a Transfer-Encoding other than chunked, a malformed chunk), and a connection closed mid-body.
 * Each ends in the right bytes or one clear line, never in bytes the server sent past an answer.
 */
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { test } from "node:test";
import type { RangeAnswer } from "../../src/store/hub-range.js";
import { createRangeHttp } from "../../src/store/range-http.js";

const BODY = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 0xff));
const fast = { retry: { baseDelayMs: 1, maxDelayMs: 2 } };

type Answer = (sock: Socket, n: number, head: string) => void;

/** A server that hands each request's head (and its number, from 0) to `answer`, which writes what it likes. */
async function rawServer(answer: Answer): Promise<{ origin: string; requests: string[]; connections: () => number; close: () => Promise<void> }> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => undefined);
    let buf = "";
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      for (let i = buf.indexOf("\r\n\r\n"); i >= 0; i = buf.indexOf("\r\n\r\n")) {
        const head = buf.slice(0, i);
        buf = buf.slice(i + 4);
        requests.push(head);
        answer(sock, requests.length - 1, head);
      }
    });
  });
  let connections = 0;
  server.on("connection", () => connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    origin: `http://127.0.0.1:${port}`, requests, connections: () => connections,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

const ok206 = (extra = "") => `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-999/1000\r\nContent-Length: 1000\r\n${extra}\r\n`;

async function readAll(a: RangeAnswer): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    const dest = new Uint8Array(300);
    let at = 0;
    for (let n = 1; n > 0 && at < dest.byteLength; at += n) n = await a.fill(dest, at);
    if (at === 0) return Buffer.concat(parts);
    parts.push(Buffer.from(dest.subarray(0, at)));
  }
}

const later = (ms = 5) => new Promise((r) => setTimeout(r, ms));

const oneLine = (code: string, re: RegExp) => (e: Error & { code?: string }) => {
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  assert.ok(!e.message.includes("\n"), "one line");
  return true;
};

test("a head split across reads at every byte gives the same answer, each on the one kept-alive connection", async () => {
  const whole = Buffer.concat([Buffer.from(ok206("X-Pad: abc\r\n"), "latin1"), BODY]);
  const headLength = whole.indexOf("\r\n\r\n") + 4;
  const srv = await rawServer((sock, n) => {
    sock.write(whole.subarray(0, n + 1));
    void later().then(() => sock.write(whole.subarray(n + 1)));
  });
  const http = createRangeHttp({ endpoint: srv.origin, token: "", ...fast });
  try {
    for (let k = 0; k < headLength + 2; k++) {
      const a = await http.open(`${srv.origin}/f`, 0, 1000);
      assert.equal(a.status, 206);
      assert.equal(a.headers.get("x-pad"), "abc");
      assert.ok((await readAll(a)).equals(BODY), `split at ${k + 1}`);
    }
    assert.equal(srv.connections(), 1, "one connection for every request");
  } finally {
    http.close();
    await srv.close();
  }
});

test("interim 1xx answers are skipped; a chunked body with extensions and a trailer is decoded byte for byte", async () => {
  const chunks = [BODY.subarray(0, 1), BODY.subarray(1, 500), BODY.subarray(500)];
  const chunked = Buffer.concat([
    ...chunks.flatMap((c, i) => [Buffer.from(`${c.length.toString(16)}${i === 1 ? ";ext=1" : ""}\r\n`), c, Buffer.from("\r\n")]),
    Buffer.from("0\r\nX-Trailer: t\r\n\r\n"),
  ]);
  const srv = await rawServer((sock) => {
    sock.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n");
    sock.write("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-999/1000\r\nTransfer-Encoding: chunked\r\n\r\n");
    // One byte at a time: every state of the chunk decoder meets the end of a read.
    void (async () => {
      for (let i = 0; i < chunked.length; i += 7) {
        sock.write(chunked.subarray(i, i + 7));
        if (i % 140 === 0) await later(1);
      }
    })();
  });
  const http = createRangeHttp({ endpoint: srv.origin, token: "", ...fast });
  try {
    for (let i = 0; i < 2; i++) {
      const a = await http.open(`${srv.origin}/f`, 0, 1000);
      assert.equal(a.status, 206);
      assert.ok((await readAll(a)).equals(BODY));
    }
    assert.equal(srv.connections(), 1, "the chunked answer's end is found exactly: the connection is kept");
  } finally {
    http.close();
    await srv.close();
  }
});

test("Connection: close is honoured: the next request opens a new connection", async () => {
  const srv = await rawServer((sock) => sock.write(Buffer.concat([Buffer.from(ok206("Connection: close\r\n")), BODY])));
  const http = createRangeHttp({ endpoint: srv.origin, token: "", ...fast });
  try {
    for (let i = 0; i < 2; i++) assert.ok((await readAll(await http.open(`${srv.origin}/f`, 0, 1000))).equals(BODY));
    assert.equal(srv.connections(), 2);
  } finally {
    http.close();
    await srv.close();
  }
});

test("a forged answer sent after the body, in the same read or later, is never used: its connection is closed", async () => {
  const forged = Buffer.concat([Buffer.from(ok206()), Buffer.alloc(1000, 0xee)]);
  for (const when of ["same read", "later"] as const) {
    const srv = await rawServer((sock, n) => {
      const answer = Buffer.concat([Buffer.from(ok206()), BODY]);
      if (n > 0) return void sock.write(answer);
      if (when === "same read") sock.write(Buffer.concat([answer, forged]));
      else {
        sock.write(answer);
        void later(20).then(() => sock.write(forged));
      }
    });
    const http = createRangeHttp({ endpoint: srv.origin, token: "", ...fast });
    try {
      assert.ok((await readAll(await http.open(`${srv.origin}/f`, 0, 1000))).equals(BODY));
      await later(60);
      assert.ok((await readAll(await http.open(`${srv.origin}/f`, 0, 1000))).equals(BODY), `${when}: the genuine bytes, not the forged ones`);
      assert.equal(srv.requests.length, 2);
      assert.equal(srv.connections(), 2, `${when}: the connection that sent extra bytes was not used again`);
    } finally {
      http.close();
      await srv.close();
    }
  }
});

test("a connection closed mid-body hands over the bytes before the break, then fails as a network error", async () => {
  const srv = await rawServer((sock) => sock.end(Buffer.concat([Buffer.from(ok206()), BODY.subarray(0, 400)])));
  const http = createRangeHttp({ endpoint: srv.origin, token: "", ...fast });
  try {
    const a = await http.open(`${srv.origin}/f`, 0, 1000);
    const dest = new Uint8Array(1000);
    let at = 0;
    await assert.rejects(async () => {
      for (;;) at += await a.fill(dest, at);
    }, oneLine("HUB_NETWORK", /^the connection dropped while reading the answer to GET http:\/\/127\.0\.0\.1:\d+\/f \(the server closed the connection after 400 of 1000 bytes\); run the same command again$/));
    assert.equal(at, 400);
    assert.ok(Buffer.from(dest.subarray(0, 400)).equals(BODY.subarray(0, 400)), "the bytes before the break, for the resume");
  } finally {
    http.close();
    await srv.close();
  }
});

const invalid: [string, string, RegExp][] = [
  ["a head over 64 KiB", `HTTP/1.1 206 Partial Content\r\n${"X-Big: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n".repeat(2000)}`, /the answer's head is over 64 KiB/],
  ["a malformed status line", "HTTP/1.1 2OO OK\r\nContent-Length: 1000\r\n", /the status line is not HTTP\/1\.x: "HTTP\/1\.1 2OO OK"/],
  ["a status line of another protocol", "ICY 200 OK\r\nContent-Length: 1000\r\n", /the status line is not HTTP\/1\.x/],
  ["obs-fold", "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-999/1000\r\nX-A: a\r\n b\r\nContent-Length: 1000\r\n", /obs-fold/],
  ["two equal Content-Lengths", "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-999/1000\r\nContent-Length: 1000\r\nContent-Length: 1000\r\n", /Content-Length is given more than once/],
  ["two Content-Lengths that differ", "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-999/1000\r\nContent-Length: 1000\r\nContent-Length: 10\r\n", /Content-Length is given more than once/],
  ["Content-Length and Transfer-Encoding", "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-999/1000\r\nContent-Length: 1000\r\nTransfer-Encoding: chunked\r\n", /both Transfer-Encoding and Content-Length/],
  ["a Transfer-Encoding other than chunked", "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-999/1000\r\nTransfer-Encoding: gzip, chunked\r\n", /Transfer-Encoding is "gzip, chunked"; truecast reads only "chunked"/],
  ["a bare LF", "HTTP/1.1 206 Partial Content\nContent-Range: bytes 0-999/1000\r\nContent-Length: 1000\r\n", /not HTTP\/1\.x|bare CR or LF/],
];

for (const [what, head, re] of invalid) {
  test(`an answer with ${what} is refused with one line, not retried, its bytes never used`, async () => {
    const srv = await rawServer((sock) => sock.write(Buffer.concat([Buffer.from(`${head}\r\n`, "latin1"), BODY])));
    const http = createRangeHttp({ endpoint: srv.origin, token: "", ...fast });
    try {
      await assert.rejects(http.open(`${srv.origin}/f`, 0, 1000), oneLine("HUB_SERVER", new RegExp(`^the answer to GET http://127\\.0\\.0\\.1:\\d+/f is not valid HTTP/1\\.1: .*${re.source}`)));
      assert.equal(srv.requests.length, 1, "asked once");
    } finally {
      http.close();
      await srv.close();
    }
  });
}

test("a chunked body with a size that is not hex, or a chunk not followed by CRLF, is refused with one line", async () => {
  for (const [body, re] of [["zz\r\nabc\r\n0\r\n\r\n", /a chunk size of the answer is not hex: "zz"/], ["3\r\nabcX\r\n0\r\n\r\n", /a chunk of the answer is not followed by CRLF/]] as const) {
    const srv = await rawServer((sock) => sock.write(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-2/1000\r\nTransfer-Encoding: chunked\r\n\r\n${body}`));
    const http = createRangeHttp({ endpoint: srv.origin, token: "", ...fast });
    try {
      const a = await http.open(`${srv.origin}/f`, 0, 3);
      await assert.rejects(readAll(a), oneLine("HUB_SERVER", re));
    } finally {
      http.close();
      await srv.close();
    }
  }
});

test("a server that echoes the token into a status line or a header never gets it into the error line, whole or cut short", async () => {
  const token = "hf_EchoedBackEchoedBackEchoedBack1234";
  const cases: [string, RegExp][] = [
    // Quoted cut at 40 characters.
    [`${token} 200`, /the status line is not HTTP\/1\.x: "hf_\*\*\* 20"/],
    [`x-${token}`, /the status line is not HTTP\/1\.x: "x-hf_\*\*\*"/],
    [`HTTP/1.1 206 Partial Content\r\n${token}: \x01`, /the header hf_\*\*\* holds a control character/],
    // The token's first 30 characters end the quote.
    [`HTTP/1.1 206 Partial Content\r\nTransfer-Encoding: gzip, x, ${token}`, /Transfer-Encoding is "gzip, x, hf_\*\*\*"/],
  ];
  for (const [head, re] of cases) {
    const srv = await rawServer((sock, _n, request) => {
      assert.match(request, new RegExp(`\r\nAuthorization: Bearer ${token}\r\n`), "the endpoint is sent the token");
      sock.write(`${head}\r\n\r\n`);
    });
    const http = createRangeHttp({ endpoint: srv.origin, token, ...fast });
    try {
      await assert.rejects(http.open(`${srv.origin}/f`, 0, 1000), (e: Error & { code?: string; cause?: unknown }) => {
        oneLine("HUB_SERVER", re)(e);
        assert.ok(!e.message.includes(token.slice(0, 8)), e.message);
        assert.equal(e.cause, undefined, "no cause that would still quote it");
        return true;
      });
    } finally {
      http.close();
      await srv.close();
    }
  }
});
