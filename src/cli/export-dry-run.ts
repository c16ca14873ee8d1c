/**
 * `truecast export ... --dry-run`: the real run's checks and plan, nothing written or sent. The order is the real
 * run's (paths and options were checked by the caller; then the token and repo, the source, the plan and the
 * output), so a run the real one would refuse fails here with the same code and line.
 */
import { auditSource } from "../audit/source-audit.js";
import type { AuditResult } from "../audit/audit.js";
import { planDryRun } from "../export/dry-run.js";
import { dryRunJson, type ExportDryRunReport } from "./dry-run-json.js";
import { openForExport, type OpenForExportParams } from "../export/open-for-export.js";
import { checkPushTarget, planRequests, predictUpload } from "../hub/push-plan.js";
import { atCommit, isHubSpec } from "../store/hub-spec.js";
import type { ProtectedPath } from "../util/real-path.js";
import { formatExportDryRun } from "./format-dry-run.js";
import { hubSettings, type HubFlags } from "./hub-options.js";
import type { CliIo } from "./io.js";

export interface ExportDryRunParams {
  readonly io: CliIo;
  readonly values: HubFlags & {
    push?: string;
    "keep-local"?: boolean;
    force?: boolean;
    "allow-overflow"?: boolean;
    "model-card"?: string;
    json?: boolean;
  };
  /** What the real run opens, as it opens it. */
  readonly openParams: OpenForExportParams;
  /** The absolute output folder, when given. */
  readonly out?: string;
  readonly baseDir?: string;
  /** The user's model card (absolute), copied as README.md. */
  readonly cardFile?: string;
  readonly maxShardSize?: number;
  readonly protect: readonly ProtectedPath[];
}

/** Returns the exit code: 0 when the real run would start (its errors are thrown as it would throw them). */
export async function exportDryRun(p: ExportDryRunParams): Promise<number> {
  const { io, values: v } = p;
  const target = v.push !== undefined ? await checkPushTarget({ repoId: v.push, ...(await hubSettings(v, io)) }) : null;
  const opened = await openForExport({ ...p.openParams, noDownloads: true });
  const model = opened.model;
  let plan;
  let audit: AuditResult | { readonly error: string };
  try {
    plan = await planDryRun({
      model,
      policy: p.openParams.policy,
      ...(p.out !== undefined ? { out: p.out } : {}),
      force: v.force === true,
      ...(p.maxShardSize !== undefined ? { maxShardSize: p.maxShardSize } : {}),
      allowOverflow: v["allow-overflow"] === true,
      ...(p.openParams.adapter !== undefined ? { adapter: p.openParams.adapter } : {}),
      ...(p.baseDir !== undefined ? { baseDir: p.baseDir } : {}),
      ...(p.cardFile !== undefined ? { cardFile: p.cardFile } : {}),
      lora: opened.lora,
      protect: p.protect,
      shardsLeave: target !== null && v["keep-local"] !== true,
    });
    // The audit reads the source again as `truecast audit` would (a file with its carried companions only).
    const local = !isHubSpec(p.openParams.source);
    try {
      audit = await auditSource({
        // A Hub source at the commit the plan was made from (its branch may have moved since).
        source: !local && model.commit !== undefined ? atCommit(p.openParams.source, model.commit) : p.openParams.source,
        ...(local ? { companions: [...model.files.keys()] } : {}),
        env: io.env,
        ...(io.fetch ? { fetch: io.fetch } : {}),
      });
    } catch (e) {
      audit = { error: e instanceof Error ? e.message : String(e) };
    }
  } finally {
    await model.close();
  }
  const push = target && (() => {
    const uploads = plan.files.map((f) => predictUpload(f.name, f.bytes));
    return {
      target,
      uploads,
      requests: planRequests(target, uploads),
      commitSummary: v["commit-message"] ?? `Upload ${target.repoId.split("/").pop() ?? "model"} with truecast`,
      keepLocal: v["keep-local"] === true,
    };
  })();
  const report: ExportDryRunReport = { command: "export", dryRun: true, plan: { ...plan, push }, audit };
  if (v.json === true) io.stdout.write(dryRunJson(report));
  else if (v.quiet !== true) io.stdout.write(formatExportDryRun(report));
  return 0;
}
