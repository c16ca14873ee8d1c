/**
 * Writing the report page: to a temporary file beside the target, then moved into place in one step, so that a
 * reader never sees half a page and a failed write leaves nothing behind.
 */
import { randomBytes } from "node:crypto";
import { link, lstat, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { TruecastError } from "../errors.js";
import type { ReportPage } from "./page-data.js";
import { renderReportPage } from "./render-page.js";

export interface WriteReportPageOptions {
  /** Replace an existing file at the path (never a folder). Default false: an existing file is `OUTPUT_EXISTS`. */
  readonly force?: boolean;
}

function errno(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

function writeError(file: string, e: unknown): TruecastError {
  if (e instanceof TruecastError) return e;
  const code = errno(e);
  if (code === "ENOENT" || code === "ENOTDIR") return new TruecastError("NOT_FOUND", `cannot write the report page ${file}: its folder does not exist`, { cause: e });
  if (code === "ENOSPC" || code === "EDQUOT") return new TruecastError("NO_SPACE", `cannot write the report page ${file}: no space left on the device`, { cause: e });
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") return new TruecastError("UNREADABLE", `cannot write the report page ${file}: permission denied (${code})`, { cause: e });
  return new TruecastError("UNREADABLE", `cannot write the report page ${file} (${code})`, { cause: e });
}

async function existing(path: string): Promise<"missing" | "folder" | "file"> {
  try {
    return (await lstat(path)).isDirectory() ? "folder" : "file";
  } catch (e) {
    if (errno(e) === "ENOENT") return "missing";
    throw e;
  }
}

function refuseExisting(file: string): TruecastError {
  return new TruecastError("OUTPUT_EXISTS", `${file} already exists; choose another file or pass --force to replace it`);
}

/**
 * Write {@link renderReportPage}'s page to `file`: the whole page goes to a temporary file in the same folder,
 * which is then linked (without `force`: an existing file, even one created meanwhile, is refused with
 * `OUTPUT_EXISTS`) or renamed (with `force`) into place. A folder at `file` is always refused. On any error the
 * temporary file is removed and the error is a {@link TruecastError} with one line saying what is wrong.
 */
export async function writeReportPage(file: string, page: ReportPage, options: WriteReportPageOptions = {}): Promise<void> {
  const target = resolve(file);
  const temp = join(dirname(target), `.${basename(target)}.truecast-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  let wrote = false;
  try {
    const state = await existing(target);
    if (state === "folder") throw new TruecastError("OUTPUT_EXISTS", `${file} is a folder; choose a file path for the report page`);
    if (state === "file" && !options.force) throw refuseExisting(file);
    const html = renderReportPage(page);
    wrote = true;
    await writeFile(temp, html, { encoding: "utf8", flag: "wx", mode: 0o644 });
    if (options.force) {
      await rename(temp, target);
    } else {
      try {
        await link(temp, target);
      } catch (e) {
        if (errno(e) === "EEXIST") throw refuseExisting(file);
        // File systems without hard links: the check above is as close as rename gets.
        if (!["EPERM", "ENOTSUP", "EOPNOTSUPP", "EXDEV", "EMLINK"].includes(errno(e))) throw e;
        if ((await existing(target)) !== "missing") throw refuseExisting(file);
        await rename(temp, target);
        wrote = false;
        return;
      }
      await rm(temp, { force: true });
    }
    wrote = false;
  } catch (e) {
    throw writeError(file, e);
  } finally {
    if (wrote) await rm(temp, { force: true }).catch(() => undefined);
  }
}
