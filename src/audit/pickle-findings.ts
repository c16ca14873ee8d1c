/**
 * Findings about PyTorch pickles: weights only in pickle form (loading them means unpickling), with the globals
 * each pickle would call, and which of them lie outside torch's rebuild allowlist (what `torch.load(...,
 * weights_only=True)` and truecast honour). The pickles were read in collecting mode, never executed.
 */
import type { Finding } from "../report/page-data.js";
import { finding, loadedFormat, plural, someNames } from "./finding.js";
import type { AuditModel } from "./read-model.js";

/** The pickles' findings. */
export function pickleFindings(model: AuditModel): Finding[] {
  const out: Finding[] = [];
  const pickles = model.files.filter((f) => f.format === "torch" && f.pickle !== undefined);
  for (const f of pickles) {
    const { globals, problem } = f.pickle ?? { globals: [], problem: null };
    const outside = globals.filter((g) => !g.allowed).map((g) => g.name);
    // A refusal without a listed global: the legacy format (read strictly), an extension-registry call, a call of
    // what only a refused global could build.
    const refused = problem !== null && problem.code === "PICKLE_FORBIDDEN" ? problem.message : null;
    if (outside.length > 0 || refused !== null) {
      const what = outside.length > 0
        ? `would call ${plural(outside.length, "global")} outside torch's rebuild allowlist when loaded: ${someNames(outside, 8)}`
        : `names what torch's rebuild allowlist refuses (${refused})`;
      out.push(finding("error", "PICKLE_UNSAFE_GLOBALS", `${f.path} ${what}; torch.load without weights_only runs it`,
        "do not load it with torch.load; save the state dict alone (model.state_dict()) as safetensors", { files: [f.path] }));
    }
    if (problem !== null && problem.code !== "PICKLE_FORBIDDEN") {
      out.push(finding("error", "PICKLE_UNREADABLE", `${f.path}: the pickle could not be read to its end (${problem.code}): ${problem.message}`,
        "treat the file as untrusted; re-create it from the trained model", { files: [f.path] }));
    }
  }
  if (loadedFormat(model) === "torch" && pickles.length > 0) {
    const names = [...new Set(pickles.flatMap((f) => f.pickle?.globals.map((g) => g.name) ?? []))];
    out.push(finding("warning", "PICKLE_ONLY",
      `the weights are only in PyTorch pickle form (${someNames(pickles.map((f) => f.path))}); loading them unpickles, which calls ${names.length > 0 ? someNames(names, 8) : "the globals the pickle names"}`,
      "publish safetensors (truecast export converts bit for bit)", { files: pickles.map((f) => f.path) }));
  }
  return out;
}
