/**
 * Start the Hub double as a process of its own, for clients written in other languages (the Python conformance
 * suite runs huggingface_hub against it with `HF_ENDPOINT`). Prints one JSON line on stdout once listening:
 * `{"url": "http://127.0.0.1:PORT", "storageUrl": "...", "token": "hf_write", "readToken": "hf_read", "user": "acme"}`,
 * then serves until stdin closes or SIGTERM/SIGINT arrives.
 *
 * Options (argv): `--verify-action` gives LFS uploads a `verify` action; `--lfs-threshold N` and
 * `--multipart-threshold N` / `--part-size N` set those limits in bytes.
 *
 * Run: `node dist/test/support/hub-double-serve.js [options]`.
 */
import { startHubDouble, type HubDoubleOptions } from "./hub-double.js";

function numberArg(argv: readonly string[], flag: string): number | undefined {
  const at = argv.indexOf(flag);
  if (at < 0) return undefined;
  const n = Number(argv[at + 1]);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer`);
  return n;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opts: HubDoubleOptions = { verifyAction: argv.includes("--verify-action") };
  const lfs = numberArg(argv, "--lfs-threshold");
  const multipart = numberArg(argv, "--multipart-threshold");
  const part = numberArg(argv, "--part-size");
  if (lfs !== undefined) opts.lfsThreshold = lfs;
  if (multipart !== undefined) opts.multipartThreshold = multipart;
  if (part !== undefined) opts.partSize = part;
  const hub = await startHubDouble(opts);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void hub.stop().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.resume();
  process.stdout.write(JSON.stringify({ url: hub.url, storageUrl: hub.storageUrl, token: "hf_write", readToken: "hf_read", user: "acme" }) + "\n");
}

main().catch((e: unknown) => {
  process.stderr.write(`hub-double-serve: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
