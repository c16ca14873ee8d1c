/**
 * The repository half of the Hub double: whoami, repo create and info, README metadata validation, preupload,
 * the ndjson commit, tree listing (paged with a Link header) and resolve (LFS files redirect to the storage host, with Range support).
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { createInterface } from "node:readline";
import { parse as parseYaml } from "yaml";
import type { DoubleContext } from "./hub-double.js";
import { newCommitId, type DoubleCommit, type DoubleFile, type DoubleRepo } from "./hub-double-store.js";

/** Extensions the Hub's default .gitattributes sends to LFS. */
const LFS_EXTENSIONS = [".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf", ".model", ".npz", ".zip"];

interface CommitLine {
  key?: string;
  value?: { summary?: string; description?: string; parentCommit?: string; path?: string; content?: string; encoding?: string; oid?: string; size?: number };
  /** A `file` line's content, decoded as it arrived. */
  bytes?: Buffer;
}

export class DoubleApi {
  constructor(private readonly opts: { lfsThreshold: number; treePageSize: number }) {}

  /** The caller's account, or null after answering 401 (no token or unknown token). */
  private authed(ctx: DoubleContext): { user: string; write: boolean; role: string } | null {
    const u = ctx.store.user(ctx.token);
    if (!u) {
      ctx.send(401, { error: "Invalid credentials in Authorization header" });
      return null;
    }
    const write = u.write ?? true;
    return { user: u.user, write, role: u.role ?? (write ? "write" : "read") };
  }

  /** A repo the caller may read; answers 401/404 and returns null otherwise. */
  private readableRepo(ctx: DoubleContext, id: string): DoubleRepo | null {
    if (ctx.token !== null && !ctx.store.user(ctx.token)) {
      ctx.send(401, { error: "Invalid credentials in Authorization header" });
      return null;
    }
    const repo = ctx.store.repos.get(id);
    const user = ctx.store.user(ctx.token);
    if (!repo || (repo.private && user?.user !== id.split("/")[0])) {
      // As the Hub: without credentials a missing or hidden repo is a 401 tagged RepoNotFound, with them a 404.
      ctx.res.setHeader("X-Error-Code", "RepoNotFound");
      ctx.send(user ? 404 : 401, { error: "Repository not found" });
      return null;
    }
    return repo;
  }

  /** A repo the caller may write; answers 401/403/404 and returns null otherwise. */
  writableRepo(ctx: DoubleContext, id: string): DoubleRepo | null {
    const u = this.authed(ctx);
    if (!u) return null;
    const repo = this.readableRepo(ctx, id);
    if (!repo) return null;
    if (!u.write || u.user !== id.split("/")[0]) {
      ctx.send(403, { error: "You don't have the rights to write to this repository" });
      return null;
    }
    return repo;
  }

  async route(ctx: DoubleContext, m: string, p: string): Promise<void> {
    let g: RegExpMatchArray | null;
    if (m === "GET" && p === "/api/whoami-v2") return this.whoami(ctx);
    if (m === "POST" && p === "/api/repos/create") return this.create(ctx);
    if (m === "DELETE" && p === "/api/repos/delete") return this.remove(ctx);
    if (m === "POST" && p === "/api/validate-yaml") return this.validateYaml(ctx);
    if (m === "GET" && (g = p.match(/^\/api\/models\/([^/]+\/[^/]+)(?:\/revision\/(.+))?$/))) return this.info(ctx, g[1] ?? "", decodeURIComponent(g[2] ?? "main"));
    if (m === "POST" && (g = p.match(/^\/api\/models\/([^/]+\/[^/]+)\/preupload\/(.+)$/))) return this.preupload(ctx, g[1] ?? "");
    if (m === "POST" && (g = p.match(/^\/api\/models\/([^/]+\/[^/]+)\/commit\/(.+)$/))) return this.commit(ctx, g[1] ?? "", decodeURIComponent(g[2] ?? ""));
    if (m === "POST" && (g = p.match(/^\/api\/models\/([^/]+\/[^/]+)\/branch\/(.+)$/))) return this.branch(ctx, g[1] ?? "", decodeURIComponent(g[2] ?? ""));
    if (m === "GET" && (g = p.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/(.+)$/))) return this.tree(ctx, g[1] ?? "", g[2] ?? "");
    if ((m === "GET" || m === "HEAD") && (g = p.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/))) return this.resolve(ctx, g[1] ?? "", decodeURIComponent(g[2] ?? ""), decodeURIComponent(g[3] ?? ""));
    ctx.send(404, { error: `no route ${m} ${p}` });
  }

  private whoami(ctx: DoubleContext): void {
    const u = this.authed(ctx);
    if (!u) return;
    ctx.send(200, { type: "user", id: u.user, name: u.user, auth: { type: "access_token", accessToken: { displayName: "test", role: u.role } } });
  }

  private async create(ctx: DoubleContext): Promise<void> {
    const u = this.authed(ctx);
    const body = (await ctx.json()) as { name?: string; organization?: string; type?: string; visibility?: string; private?: boolean } | null;
    if (!u) return;
    if (!body?.name) return ctx.send(400, { error: "name is required" });
    const ns = body.organization ?? u.user;
    if (!u.write || ns !== u.user) return ctx.send(403, { error: "You don't have the rights to create a model under this namespace" });
    const id = `${ns}/${body.name}`;
    if (ctx.store.repos.has(id)) return ctx.send(409, { error: "You already created this model repo", url: `${ctx.hubOrigin}/${id}` });
    const isPrivate = body.visibility ? body.visibility !== "public" : (body.private ?? false);
    ctx.store.createRepo(id, isPrivate);
    ctx.send(200, { url: `${ctx.hubOrigin}/${id}`, name: id, id: `id-${id}` });
  }

  /** DELETE /api/repos/delete {name, organization, type}: as the Hub, only the owner with a write token. */
  private async remove(ctx: DoubleContext): Promise<void> {
    const u = this.authed(ctx);
    const body = (await ctx.json()) as { name?: string; organization?: string; type?: string } | null;
    if (!u) return;
    if (!body?.name) return ctx.send(400, { error: "name is required" });
    const id = `${body.organization ?? u.user}/${body.name}`;
    if (!ctx.store.repos.has(id)) return ctx.send(404, { error: "Repository not found" });
    if (!u.write || id.split("/")[0] !== u.user) return ctx.send(403, { error: "You don't have the rights to delete this repository" });
    ctx.store.repos.delete(id);
    ctx.send(200, {});
  }

  /**
   * POST /api/validate-yaml `{content, repoType}`: huggingface_hub checks a README.md's front matter here before
   * committing it. 400 with `errors` when the YAML does not parse or is not a mapping; a warning when there is none.
   */
  private async validateYaml(ctx: DoubleContext): Promise<void> {
    const body = (await ctx.json()) as { content?: unknown } | null;
    if (typeof body?.content !== "string") return ctx.send(400, { errors: [{ message: "content is required" }] });
    const front = /^---\r?\n([\s\S]*?)\r?\n---(\r?\n|$)/.exec(body.content);
    if (!front) return ctx.send(200, { warnings: [{ message: "empty or missing yaml metadata in repo card" }] });
    let doc: unknown;
    try {
      doc = parseYaml(front[1] ?? "");
    } catch (e) {
      return ctx.send(400, { errors: [{ message: `invalid yaml: ${(e as Error).message.split("\n")[0]}` }] });
    }
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return ctx.send(400, { errors: [{ message: "metadata must be a mapping" }] });
    ctx.send(200, {});
  }

  private info(ctx: DoubleContext, id: string, rev: string): void {
    const repo = this.readableRepo(ctx, id);
    if (!repo) return;
    const commit = ctx.store.resolve(repo, rev);
    if (!commit) return notFound(ctx, "RevisionNotFound", `Invalid rev id: ${rev}`);
    ctx.send(200, {
      _id: `id-${id}`, id, modelId: id, private: repo.private, sha: commit.id,
      siblings: [...commit.files.keys()].map((rfilename) => ({ rfilename })),
    });
  }

  private async preupload(ctx: DoubleContext, id: string): Promise<void> {
    const body = (await ctx.json()) as { files?: Array<{ path: string; size: number }> } | null;
    if (!this.writableRepo(ctx, id)) return;
    const files = (body?.files ?? []).map((f) => ({
      path: f.path,
      uploadMode: f.size > this.opts.lfsThreshold || LFS_EXTENSIONS.some((e) => f.path.endsWith(e)) ? "lfs" : "regular",
      shouldIgnore: false,
    }));
    ctx.send(200, { files, commitOid: null });
  }

  private async commit(ctx: DoubleContext, id: string, rev: string): Promise<void> {
    // Parsed line by line as it arrives: a commit with many small files inside is hundreds of MB of ndjson.
    const lines: CommitLine[] = [];
    let bad = false;
    const rl = createInterface({ input: ctx.req, crlfDelay: Infinity });
    for await (const l of rl) {
      ctx.entry.bytesReceived += Buffer.byteLength(l) + 1;
      if (bad || !l.trim()) continue;
      try {
        const line = JSON.parse(l) as CommitLine;
        // Decoded now, so the base64 text is not kept beside the bytes.
        if (line.key === "file" && line.value && typeof line.value.content === "string" && line.value.encoding === "base64") {
          line.bytes = Buffer.from(line.value.content, "base64");
          delete line.value.content;
        }
        lines.push(line);
      } catch {
        bad = true;
      }
    }
    const repo = this.writableRepo(ctx, id);
    if (!repo) return;
    if (bad) return ctx.send(400, { error: "invalid ndjson line" });
    const header = lines[0];
    if (header?.key !== "header") return ctx.send(400, { error: "first line must be the header" });
    const createPr = ctx.url.searchParams.get("create_pr") === "1";
    const headId = repo.refs.get(rev);
    if (headId === undefined) return ctx.send(404, { error: `Invalid rev id: ${rev}` });
    const parentId = header.value?.parentCommit ?? headId;
    if (!createPr && parentId !== headId) return ctx.send(412, { error: "A commit has happened since. Please refresh and try again." });
    const parent = repo.commits.get(parentId);
    if (!parent) return ctx.send(400, { error: `unknown parent commit ${parentId}` });
    const files = new Map<string, DoubleFile>(parent.files);
    for (const line of lines.slice(1)) {
      const v = line.value ?? {};
      if (typeof v.path !== "string" || !v.path) return ctx.send(400, { error: "operation without a path" });
      if (line.key === "file") {
        if (v.encoding !== "base64" || !line.bytes) return ctx.send(400, { error: `bad file line for ${v.path}` });
        files.set(v.path, ctx.store.regularFile(line.bytes));
      } else if (line.key === "lfsFile") {
        const size = ctx.store.objects.get(v.oid ?? "");
        if (size === undefined || size !== v.size) return ctx.send(422, { error: `LFS object ${v.oid} for ${v.path} was not uploaded` });
        files.set(v.path, ctx.store.lfsFile(v.oid ?? "", size));
      } else if (line.key === "deletedFile") {
        files.delete(v.path);
      } else {
        return ctx.send(400, { error: `unknown operation ${String(line.key)}` });
      }
    }
    const commit: DoubleCommit = { id: newCommitId(), parent: parentId, summary: header.value?.summary ?? "", description: header.value?.description ?? "", files };
    repo.commits.set(commit.id, commit);
    let pullRequestUrl: string | undefined;
    if (createPr) {
      repo.prCount++;
      repo.refs.set(`refs/pr/${repo.prCount}`, commit.id);
      pullRequestUrl = `${ctx.hubOrigin}/${id}/discussions/${repo.prCount}`;
    } else {
      repo.refs.set(rev, commit.id);
    }
    ctx.send(200, { success: true, commitOid: commit.id, commitUrl: `${ctx.hubOrigin}/${id}/commit/${commit.id}`, hookOutput: "", ...(pullRequestUrl && { pullRequestUrl }) });
  }

  private async branch(ctx: DoubleContext, id: string, name: string): Promise<void> {
    const body = (await ctx.json()) as { startingPoint?: string } | null;
    const repo = this.writableRepo(ctx, id);
    if (!repo) return;
    if (repo.refs.has(name)) return ctx.send(409, { error: `Branch ${name} already exists` });
    const from = ctx.store.resolve(repo, body?.startingPoint ?? "main");
    if (!from) return ctx.send(404, { error: "starting point not found" });
    repo.refs.set(name, from.id);
    ctx.send(200, {});
  }

  private tree(ctx: DoubleContext, id: string, rest: string): void {
    const repo = this.readableRepo(ctx, id);
    if (!repo) return;
    const segs = rest.split("/").map(decodeURIComponent);
    const take = segs[0] === "refs" ? 3 : 1;
    const rev = segs.slice(0, take).join("/");
    const prefix = segs.slice(take).join("/");
    const commit = ctx.store.resolve(repo, rev);
    if (!commit) return ctx.send(404, { error: `Revision not found: ${rev}` });
    const recursive = ctx.url.searchParams.get("recursive") === "true";
    const entries: object[] = [];
    const dirs = new Set<string>();
    for (const [path, f] of [...commit.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (prefix && !path.startsWith(prefix + "/")) continue;
      const rel = prefix ? path.slice(prefix.length + 1) : path;
      const parts = rel.split("/");
      for (let i = 1; i < parts.length; i++) {
        const d = [prefix, ...parts.slice(0, i)].filter(Boolean).join("/");
        if ((recursive || i === 1) && !dirs.has(d)) {
          dirs.add(d);
          entries.push({ type: "directory", oid: "0".repeat(40), size: 0, path: d });
        }
      }
      if (!recursive && parts.length > 1) continue;
      entries.push({
        type: "file", oid: f.gitOid, size: f.size, path,
        ...(f.kind === "lfs" && { lfs: { oid: f.oid, size: f.size, pointerSize: 130 } }),
      });
    }
    const cursor = Number(ctx.url.searchParams.get("cursor") ?? "0");
    const page = entries.slice(cursor, cursor + this.opts.treePageSize);
    if (cursor + this.opts.treePageSize < entries.length) {
      const next = new URL(ctx.url.href.replace(ctx.url.origin, ctx.hubOrigin));
      next.searchParams.set("cursor", String(cursor + this.opts.treePageSize));
      ctx.res.setHeader("Link", `<${next.href}>; rel="next"`);
    }
    ctx.send(200, page);
  }

  private resolve(ctx: DoubleContext, id: string, rev: string, path: string): void {
    const repo = this.readableRepo(ctx, id);
    if (!repo) return;
    if (repo.gated) {
      // As the Hub: a gated repo's files need a token of an account that was granted access.
      const user = ctx.store.user(ctx.token);
      if (!user || !repo.gated.has(user.user)) {
        ctx.res.setHeader("X-Error-Code", "GatedRepo");
        return ctx.send(user ? 403 : 401, { error: `Access to model ${id} is restricted. You must have access to it and be authenticated to access it.` });
      }
    }
    const commit = ctx.store.resolve(repo, rev);
    if (!commit) return notFound(ctx, "RevisionNotFound", `Invalid rev id: ${rev}`);
    ctx.res.setHeader("X-Repo-Commit", commit.id);
    const file = commit.files.get(path);
    // huggingface_hub tells a missing file (EntryNotFoundError, file_exists → False) by this header, not the status
    if (!file) return notFound(ctx, "EntryNotFound", "Entry not found");
    if (file.kind === "lfs") {
      ctx.res.setHeader("X-Linked-Size", String(file.size));
      ctx.res.setHeader("X-Linked-Etag", `"${file.oid}"`);
      ctx.res.statusCode = 302;
      ctx.res.setHeader("Location", `${ctx.storageOrigin}/lfs/get/${file.oid}`);
      ctx.res.end();
      return;
    }
    // As the Hub: a regular file's ETag is its git blob id (huggingface_hub refuses a download without an ETag)
    ctx.res.setHeader("ETag", `"${file.gitOid}"`);
    serveRange(ctx, file.size, (start, end) => ctx.res.end(file.bytes.subarray(start, end + 1)));
  }

  /** GET /lfs/get/{oid} on the storage host. */
  static object(ctx: DoubleContext, oid: string): void {
    const size = ctx.store.objects.get(oid);
    if (size === undefined) return ctx.send(404, { error: "no such object" });
    const virtual = ctx.store.virtual.get(oid);
    const head = ctx.store.heads.get(oid);
    serveRange(ctx, size, (start, end) => {
      if (end < start) return ctx.res.end();
      if (virtual) return void Readable.from(virtual.chunks(start, end + 1), { objectMode: false }).pipe(ctx.res);
      if (head) {
        // A sink double kept only the first bytes; a read past them is the benchmark's mistake, not the client's.
        if (end >= head.byteLength) return void ctx.res.destroy(new Error(`sink double: bytes ${start}-${end} of ${oid} were dropped`));
        return void ctx.res.end(head.subarray(start, end + 1));
      }
      createReadStream(ctx.store.objectPath(oid), { start, end }).pipe(ctx.res);
    });
  }
}

/** A 404 with the `X-Error-Code` the Hub sends (RevisionNotFound, EntryNotFound), which the Python client maps to its errors. */
function notFound(ctx: DoubleContext, code: "RevisionNotFound" | "EntryNotFound", message: string): void {
  ctx.res.setHeader("X-Error-Code", code);
  ctx.res.setHeader("X-Error-Message", message);
  ctx.send(404, { error: message });
}

/** Answer 200 or 206 (one `bytes=a-b` range) or 416. */
function serveRange(ctx: DoubleContext, size: number, body: (start: number, endInclusive: number) => void): void {
  const range = ctx.req.headers.range;
  ctx.res.setHeader("Accept-Ranges", "bytes");
  ctx.res.setHeader("Content-Type", "application/octet-stream");
  if (!range) {
    ctx.res.statusCode = 200;
    ctx.res.setHeader("Content-Length", String(size));
    if (ctx.req.method === "HEAD") return void ctx.res.end();
    return body(0, size - 1);
  }
  const g = range.match(/^bytes=(\d*)-(\d*)$/);
  let start = g?.[1] ? Number(g[1]) : NaN;
  let end = g?.[2] ? Number(g[2]) : size - 1;
  if (g && !g[1] && g[2]) {
    start = Math.max(0, size - Number(g[2]));
    end = size - 1;
  }
  if (!g || !(start >= 0) || start >= size || end < start) {
    ctx.res.statusCode = 416;
    ctx.res.setHeader("Content-Range", `bytes */${size}`);
    return void ctx.res.end();
  }
  end = Math.min(end, size - 1);
  ctx.res.statusCode = 206;
  ctx.res.setHeader("Content-Range", `bytes ${start}-${end}/${size}`);
  ctx.res.setHeader("Content-Length", String(end - start + 1));
  if (ctx.req.method === "HEAD") return void ctx.res.end();
  body(start, end);
}
