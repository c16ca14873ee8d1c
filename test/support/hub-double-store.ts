/**
 * State of the Hub double: tokens, repositories, commits, branches and the LFS object store on disk.
 * No HTTP here; hub-double.ts routes requests to these methods.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface DoubleToken {
  user: string;
  /** Write access (create repos, commit). Default true. */
  write?: boolean;
  /** Role whoami reports (default "write" or "read" from `write`); "fineGrained" tokens hide their rights. */
  role?: string;
}

export type DoubleFile =
  | { kind: "regular"; size: number; bytes: Buffer; gitOid: string }
  | { kind: "lfs"; size: number; oid: string; gitOid: string };

/**
 * An LFS object whose bytes are computed, not stored (the scale benchmark's 140 GB model): its size, its sha256
 * (which the caller vouches for) and its bytes [start, end) as views that are never changed.
 */
export interface VirtualObject {
  size: number;
  sha256: string;
  chunks: (start: number, end: number) => Iterable<Uint8Array>;
}

export interface DoubleCommit {
  id: string;
  parent: string | null;
  summary: string;
  /** The commit's description (a pull request's description when made with `create_pr=1`). */
  description?: string;
  files: Map<string, DoubleFile>;
}

export interface DoubleRepo {
  id: string;
  private: boolean;
  /** A gated repo: its listing is public, its files only for these users (resolve answers 401/403 GatedRepo). */
  gated?: Set<string>;
  /** Ref name ("main", "refs/pr/1") → commit id. */
  refs: Map<string, string>;
  commits: Map<string, DoubleCommit>;
  prCount: number;
}

/** What kind of damage {@link DoubleStore.tamper} does to a published file. */
export type TamperKind =
  /** Flip one byte of the stored LFS object at `offset` (size and recorded oid unchanged). */
  | { kind: "byte"; offset: number }
  /** Record another sha256 for the file in the tree listing. */
  | { kind: "oid" }
  /**
   * A regular (non-LFS) file: serve `bytes` in its place (its size follows them, in the listing and in answers)
   * while the listing keeps the git blob id of the file as committed: a Hub that lies about what a commit holds.
   */
  | { kind: "bytes"; bytes: Uint8Array };

function gitBlobOid(bytes: Buffer): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

function lfsPointer(oid: string, size: number): Buffer {
  return Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`);
}

export function newCommitId(): string {
  return randomBytes(20).toString("hex");
}

export class DoubleStore {
  readonly tokens = new Map<string, DoubleToken>();
  readonly repos = new Map<string, DoubleRepo>();
  /** oid → size of every object completely received and checked. */
  readonly objects = new Map<string, number>();
  /** Objects served from a generator instead of a file (seeded with a {@link VirtualObject}). */
  readonly virtual = new Map<string, VirtualObject>();
  /** Objects a sink double hashed and dropped: only their first bytes are kept, to serve header reads. */
  readonly heads = new Map<string, Uint8Array>();

  constructor(readonly dir: string) {}

  objectPath(oid: string): string {
    return join(this.dir, "objects", oid);
  }

  tempPath(): string {
    return join(this.dir, "tmp", randomBytes(8).toString("hex"));
  }

  user(token: string | null): DoubleToken | null {
    return token === null ? null : (this.tokens.get(token) ?? null);
  }

  createRepo(id: string, isPrivate: boolean): DoubleRepo {
    const attributes = Buffer.from("*.safetensors filter=lfs diff=lfs merge=lfs -text\n");
    const first: DoubleCommit = {
      id: newCommitId(),
      parent: null,
      summary: "initial commit",
      files: new Map([[".gitattributes", { kind: "regular", size: attributes.length, bytes: attributes, gitOid: gitBlobOid(attributes) }]]),
    };
    const repo: DoubleRepo = { id, private: isPrivate, refs: new Map([["main", first.id]]), commits: new Map([[first.id, first]]), prCount: 0 };
    this.repos.set(id, repo);
    return repo;
  }

  /** The commit a revision (branch, ref or commit id) points to. */
  resolve(repo: DoubleRepo, rev: string): DoubleCommit | null {
    const id = repo.refs.get(rev) ?? (repo.commits.has(rev) ? rev : null);
    return id === null ? null : (repo.commits.get(id) ?? null);
  }

  regularFile(bytes: Buffer): DoubleFile {
    return { kind: "regular", size: bytes.length, bytes, gitOid: gitBlobOid(bytes) };
  }

  lfsFile(oid: string, size: number): DoubleFile {
    return { kind: "lfs", size, oid, gitOid: gitBlobOid(lfsPointer(oid, size)) };
  }

  /** Move a received temp file into the store after checking its size and sha256; false (and deleted) if wrong. */
  async admit(tempPath: string, oid: string, size: number, sha256: string, received: number): Promise<boolean> {
    if (sha256 !== oid || received !== size) {
      await rm(tempPath, { force: true });
      return false;
    }
    await rename(tempPath, this.objectPath(oid));
    this.objects.set(oid, size);
    return true;
  }

  /**
   * A repo with `files` committed on main in one commit, without going through the upload protocol: files ending
   * in `.safetensors`/`.bin` or larger than `lfsThreshold` (default 10 MiB) become LFS objects on disk, served by the
   * storage host; a {@link VirtualObject} becomes an LFS object served from its generator. Returns the repo (its
   * commit is `refs.get("main")`).
   */
  async seed(id: string, files: Record<string, Uint8Array | VirtualObject>, opts: { private?: boolean; gated?: string[]; lfsThreshold?: number } = {}): Promise<DoubleRepo> {
    const repo = this.repos.get(id) ?? this.createRepo(id, opts.private ?? false);
    if (opts.gated) repo.gated = new Set(opts.gated);
    const head = this.resolve(repo, "main");
    const commit: DoubleCommit = { id: newCommitId(), parent: head?.id ?? null, summary: "seed", files: new Map(head?.files) };
    for (const [path, data] of Object.entries(files)) {
      if (!(data instanceof Uint8Array)) {
        this.virtual.set(data.sha256, data);
        this.objects.set(data.sha256, data.size);
        commit.files.set(path, this.lfsFile(data.sha256, data.size));
        continue;
      }
      const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (/\.(safetensors|bin)$/.test(path) || bytes.length > (opts.lfsThreshold ?? 10 * 1024 * 1024)) {
        const oid = createHash("sha256").update(bytes).digest("hex");
        await writeFile(this.objectPath(oid), bytes);
        this.objects.set(oid, bytes.length);
        commit.files.set(path, this.lfsFile(oid, bytes.length));
      } else {
        commit.files.set(path, this.regularFile(bytes));
      }
    }
    repo.commits.set(commit.id, commit);
    repo.refs.set("main", commit.id);
    return repo;
  }

  /** Damage a published file so that remote verification has something to find. Synchronous on purpose. */
  tamper(params: { repo: string; path: string; revision?: string } & TamperKind): void {
    const repo = this.repos.get(params.repo);
    const commit = repo ? this.resolve(repo, params.revision ?? "main") : null;
    const file = commit?.files.get(params.path);
    if (params.kind === "bytes") {
      if (!commit || !file || file.kind !== "regular") throw new Error(`hub double: no regular file ${params.path} in ${params.repo}`);
      const bytes = Buffer.from(params.bytes);
      commit.files.set(params.path, { kind: "regular", size: bytes.length, bytes, gitOid: file.gitOid });
      return;
    }
    if (!commit || !file || file.kind !== "lfs") throw new Error(`hub double: no LFS file ${params.path} in ${params.repo}`);
    if (params.kind === "oid") {
      commit.files.set(params.path, { ...file, oid: createHash("sha256").update(file.oid).digest("hex") });
      return;
    }
    const fd = openSync(this.objectPath(file.oid), "r+");
    try {
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, params.offset);
      b[0] = (b[0] ?? 0) ^ 0xff;
      writeSync(fd, b, 0, 1, params.offset);
    } finally {
      closeSync(fd);
    }
  }

  async objectSize(oid: string): Promise<number | null> {
    try {
      return (await stat(this.objectPath(oid))).size;
    } catch {
      return null;
    }
  }
}
