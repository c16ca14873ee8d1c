/** The closing line of a publish: `published acme/model@<commit>: 7 files, 3 shards bit-exact, dtype bfloat16`. */
export function publishSummaryLine(p: {
  repoId: string;
  commit: string;
  files: number;
  shards: number;
  dtype: string | null;
  pr: string | null;
  forced: boolean;
  problems: number;
}): string {
  let s = `published ${p.repoId}@${p.commit}: ${p.files} file${p.files === 1 ? "" : "s"}, ${p.shards} shard${p.shards === 1 ? "" : "s"} bit-exact`;
  if (p.dtype) s += `, dtype ${p.dtype}`;
  if (p.pr) s += `, pull request ${p.pr}`;
  if (p.forced) s += ` (forced past ${p.problems} problem${p.problems === 1 ? "" : "s"} in the folder check)`;
  return s;
}
