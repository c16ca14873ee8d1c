/**
 * A loopback double of the Hugging Face Hub: the endpoints `@huggingface/hub` calls to create a repo, upload
 * LFS objects (basic and multipart), commit, list a tree and resolve files with range reads. Objects live on disk
 * in a temp folder; every request is recorded (Authorization values masked) and faults can be injected.
 * LFS objects are served from a second listener (another origin), as the real Hub sends them to a storage host.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DoubleStore, type DoubleToken } from "./hub-double-store.js";
import { DoubleLfs } from "./hub-double-lfs.js";
import { DoubleApi } from "./hub-double-api.js";
import { DoubleSink } from "./hub-double-sink.js";

export interface RecordedRequest {
  /** "hub" (the endpoint) or "storage" (the LFS host). */
  server: "hub" | "storage";
  method: string;
  /** Path and query. */
  path: string;
  /** Lower-cased header names; an Authorization value is replaced by "<present>". */
  headers: Record<string, string>;
  bytesReceived: number;
  /** Bytes of the answer's body handed to the socket (a range read's bytes served). */
  bytesSent: number;
  status: number;
  fault?: FaultKind;
}

export type FaultKind = "status" | "drop" | "slow" | "respond";

export interface FaultRequest {
  server: "hub" | "storage";
  method: string;
  path: string;
  headers: Record<string, string>;
}

export interface Fault {
  match: (req: FaultRequest) => boolean;
  kind: FaultKind;
  /** For "status": the status code (default 500). */
  status?: number;
  /** For "status": a Retry-After header value in seconds. */
  retryAfter?: number;
  /** For "status": more headers to send (e.g. the Hub's `RateLimit` and `RateLimit-Policy` on a 429). */
  headers?: Record<string, string>;
  /** For "slow": delay before handling (default 200 ms). For "drop": bytes of body to read first (default 0). */
  delayMs?: number;
  dropAfterBytes?: number;
  /** For "drop": handle the request first (a commit is applied), then drop the connection instead of answering. */
  dropAfterHandling?: boolean;
  /** For "respond": answers the request in its place (hostile behaviours: hub-double-hostile.ts). */
  respond?: (ctx: DoubleContext) => void | Promise<void>;
  /** How many matching requests get the fault (default 1). */
  times?: number;
}

export interface HubDoubleOptions {
  /** Known tokens. Default: `hf_write` (user "acme", write) and `hf_read` (user "acme", read-only). */
  tokens?: Record<string, DoubleToken>;
  /** Objects larger than this get a multipart upload (default 8 MiB). */
  multipartThreshold?: number;
  /** Part size of multipart uploads (default 8 MiB). */
  partSize?: number;
  /** Files larger than this are LFS even without an LFS extension (default 10 MiB, as the Hub). */
  lfsThreshold?: number;
  /** Tree listing page size (the Hub pages with a Link header). Default 1000. */
  treePageSize?: number;
  /**
   * Give each upload a `verify` action too (git-lfs's; the Hub may send one, and the Python client honours it):
   * `POST {hub}/{repo}.git/info/lfs/objects/verify` `{oid, size}`, 200 once the object is stored. Default false.
   */
  verifyAction?: boolean;
  /**
   * A sink (the scale benchmark's push target): uploaded objects are hashed and dropped, keeping their first
   * `keepBytes` (hub-double-sink.ts). Default: objects are stored on disk.
   */
  sink?: { keepBytes: number };
}

export interface DoubleContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  token: string | null;
  store: DoubleStore;
  entry: RecordedRequest;
  hubOrigin: string;
  storageOrigin: string;
  json: () => Promise<unknown>;
  body: () => Promise<Buffer>;
  send: (status: number, body: unknown, contentType?: string) => void;
}

export interface HubDouble {
  url: string;
  storageUrl: string;
  state: DoubleStore;
  requests: RecordedRequest[];
  /** With the `sink` option: every upload it completed, with the sha256 it computed. */
  sink: DoubleSink | null;
  faults: { add: (f: Fault) => void; clear: () => void };
  /** TCP connections accepted so far, per listener (a client that keeps connections alive opens few). */
  connections: { hub: number; storage: number };
  stop: () => Promise<void>;
}

const DEFAULT_TOKENS: Record<string, DoubleToken> = {
  hf_write: { user: "acme", write: true },
  hf_read: { user: "acme", write: false },
};

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? `http://127.0.0.1:${addr.port}` : "");
    });
  });
}

function maskHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    out[k] = k === "authorization" ? "<present>" : Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

export async function startHubDouble(opts: HubDoubleOptions = {}): Promise<HubDouble> {
  const dir = await mkdtemp(join(tmpdir(), "truecast-hub-double-"));
  await mkdir(join(dir, "objects"));
  await mkdir(join(dir, "tmp"));
  const store = new DoubleStore(dir);
  for (const [t, u] of Object.entries(opts.tokens ?? DEFAULT_TOKENS)) store.tokens.set(t, u);
  const partSize = opts.partSize ?? 8 * 1024 * 1024;
  const sink = opts.sink ? new DoubleSink(opts.sink.keepBytes) : null;
  const lfs = new DoubleLfs({ multipartThreshold: opts.multipartThreshold ?? 8 * 1024 * 1024, partSize, verifyAction: opts.verifyAction ?? false, sink });
  const api = new DoubleApi({ lfsThreshold: opts.lfsThreshold ?? 10 * 1024 * 1024, treePageSize: opts.treePageSize ?? 1000 });
  const requests: RecordedRequest[] = [];
  const faults: Array<Fault & { left: number }> = [];
  const origins = { hub: "", storage: "" };

  const handler = (server: "hub" | "storage") => (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", origins[server]);
    const headers = maskHeaders(req);
    const entry: RecordedRequest = { server, method: req.method ?? "GET", path: url.pathname + url.search, headers, bytesReceived: 0, bytesSent: 0, status: 0 };
    requests.push(entry);
    const count = (chunk: unknown) => {
      if (typeof chunk === "string") entry.bytesSent += Buffer.byteLength(chunk);
      else if (chunk instanceof Uint8Array) entry.bytesSent += chunk.byteLength;
    };
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      count(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== "function") count(chunk);
      return end(chunk, ...rest);
    }) as typeof res.end;
    res.on("finish", () => (entry.status = res.statusCode));
    const auth = req.headers.authorization;
    const ctx: DoubleContext = {
      req, res, url, store, entry, hubOrigin: origins.hub, storageOrigin: origins.storage,
      token: auth?.startsWith("Bearer ") ? auth.slice(7) : null,
      body: async () => {
        const chunks: Buffer[] = [];
        for await (const c of req) {
          chunks.push(c as Buffer);
          entry.bytesReceived += (c as Buffer).length;
        }
        return Buffer.concat(chunks);
      },
      json: async () => {
        const b = await ctx.body();
        try {
          return JSON.parse(b.toString("utf8")) as unknown;
        } catch {
          return null;
        }
      },
      send: (status, body, contentType = "application/json") => {
        if (res.headersSent) return;
        res.statusCode = status;
        res.setHeader("Content-Type", contentType);
        res.end(JSON.stringify(body));
      },
    };
    const fault = faults.find((f) => f.left > 0 && f.match({ server, method: entry.method, path: entry.path, headers }));
    const run = async (): Promise<void> => {
      if (fault) {
        fault.left--;
        entry.fault = fault.kind;
        if (fault.kind === "drop" && fault.dropAfterHandling) {
          res.end = (() => {
            req.socket.destroy();
            return res;
          }) as typeof res.end;
          return route(server, ctx);
        }
        if (fault.kind === "drop") {
          // Taken now: leaving the body's for-await below detaches the socket from the request.
          const socket = req.socket;
          const after = fault.dropAfterBytes ?? 0;
          if (after > 0) {
            for await (const c of req) {
              entry.bytesReceived += (c as Buffer).length;
              if (entry.bytesReceived >= after) break;
            }
          }
          socket.destroy();
          return;
        }
        if (fault.kind === "respond" && fault.respond) return fault.respond(ctx);
        if (fault.kind === "status") {
          if (fault.retryAfter !== undefined) res.setHeader("Retry-After", String(fault.retryAfter));
          for (const [k, v] of Object.entries(fault.headers ?? {})) res.setHeader(k, v);
          req.resume();
          return ctx.send(fault.status ?? 500, { error: "injected fault" });
        }
        await new Promise((r) => setTimeout(r, fault.delayMs ?? 200));
      }
      await route(server, ctx);
    };
    run().catch((e: unknown) => {
      if (!res.headersSent) ctx.send(500, { error: String(e) });
      else res.destroy();
    });
  };

  async function route(server: "hub" | "storage", ctx: DoubleContext): Promise<void> {
    const p = ctx.url.pathname;
    const m = ctx.req.method ?? "GET";
    let g: RegExpMatchArray | null;
    if (server === "storage") {
      if (m === "PUT" && (g = p.match(/^\/lfs\/put\/([^/]+)$/))) return lfs.put(ctx, g[1] ?? "");
      if (m === "PUT" && (g = p.match(/^\/lfs\/part\/([^/]+)\/(\d+)$/))) return lfs.part(ctx, g[1] ?? "", Number(g[2]));
      if (m === "POST" && (g = p.match(/^\/lfs\/complete\/([^/]+)$/))) return lfs.complete(ctx, g[1] ?? "");
      if ((m === "GET" || m === "HEAD") && (g = p.match(/^\/lfs\/get\/([^/]+)$/))) return DoubleApi.object(ctx, g[1] ?? "");
      return ctx.send(404, { error: "not found" });
    }
    if (m === "POST" && (g = p.match(/^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/))) {
      const repo = api.writableRepo(ctx, decodeURIComponent(g[1] ?? ""));
      return repo ? lfs.batch(ctx, repo.id) : undefined;
    }
    if (m === "POST" && (g = p.match(/^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/verify$/))) {
      const repo = api.writableRepo(ctx, decodeURIComponent(g[1] ?? ""));
      return repo ? lfs.verify(ctx) : undefined;
    }
    return api.route(ctx, m, p);
  }

  const hubServer = createServer(handler("hub"));
  const storageServer = createServer(handler("storage"));
  const connections = { hub: 0, storage: 0 };
  hubServer.on("connection", () => connections.hub++);
  storageServer.on("connection", () => connections.storage++);
  origins.hub = await listen(hubServer);
  origins.storage = await listen(storageServer);

  const close = (s: Server) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
  return {
    url: origins.hub,
    storageUrl: origins.storage,
    state: store,
    requests,
    sink,
    faults: { add: (f) => faults.push({ ...f, left: f.times ?? 1 }), clear: () => void faults.splice(0) },
    connections,
    stop: async () => {
      await Promise.all([close(hubServer), close(storageServer)]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
