import { copyFile, writeFile } from "node:fs/promises";
import { checkCarriedPath } from "../util/real-path.js";
import { CONFIG_FILE, parseSideJson, readSideFile } from "../formats/side-file.js";
import { configName, type FloatDType } from "../dtype/table.js";
import { TOKENIZER_FILE_NAMES } from "../sources/companion-files.js";
import type { SourceModel } from "../sources/tensor-ref.js";
import { truecastVersion } from "../version.js";
import { configClaims, rewriteConfigDtype } from "./config.js";
import { cardParamsFromExport, renderModelCard, type CardExportFacts } from "./model-card.js";
import { configCorrections, looksLikeHubId, makeProvenance, type Provenance } from "./provenance.js";
import type { ExportReport } from "./report.js";
import type { SourceFileDigest } from "./source-digests.js";

/** The file every export writes beside the weights: the whole report as JSON (see report-json.ts). */
export const REPORT_FILE = "truecast-report.json";

/** What the user says about the model card. */
export interface ModelCardOptions {
  /** Use this file as README.md instead of generating one. */
  readonly file?: string;
  /** Hub license id for the front matter. */
  readonly license?: string;
  /** Overrides the base model the source knows of. */
  readonly baseModel?: string;
  /** Where it will be published, for the title and the loading snippet. */
  readonly repoId?: string;
  readonly tags?: readonly string[];
  /** The LoRA adapter merged into the weights. */
  readonly mergedAdapter?: string;
  /** Frozen weights taken from the base model instead of the checkpoint (see OpenedForExport.frozenFromBase). */
  readonly frozenFromBase?: string;
}


async function readJson(path: string | undefined): Promise<Record<string, unknown> | null> {
  if (!path) return null;
  try {
    const v = parseSideJson(await readSideFile(path, CONFIG_FILE), path, CONFIG_FILE);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Write the non-weight files into the staging folder: config.json with its dtype keys set from the written
 * tensors, every other small file copied unchanged, and README.md (the user's, or a generated model card).
 * Returns the file names written and what config.json said before.
 */
export async function writeSmallFiles(params: {
  model: SourceModel;
  dominant: FloatDType | null;
  /** More than one floating dtype was written: sub-configs' dtype keys are then left as they are. */
  mixed: boolean;
  facts: CardExportFacts;
  card: ModelCardOptions | false;
  /** The source weight files with their SHA-256, for the card's Provenance section. */
  sourceFiles?: readonly SourceFileDigest[];
  target: (name: string) => string;
  /** Everything the provenance record holds but config.json's corrections, which are measured here. */
  provenance: Omit<Parameters<typeof makeProvenance>[0], "corrections">;
}): Promise<{ files: string[]; config: ExportReport["config"]; provenance: Provenance }> {
  const { model } = params;
  const files: string[] = [];
  let config: ExportReport["config"] = null;
  for (const [name, spelled] of model.files) {
    if (name === "README.md" && params.card !== false) continue;
    // Checked again here, not only before the weights were written: the file could have been replaced by a link
    // to somewhere else meanwhile. What is copied is the real path the check returned.
    const path = await checkCarriedPath(spelled);
    if (name === "config.json") {
      const text = await readSideFile(path, CONFIG_FILE);
      const claims = configClaims(text, spelled);
      const edited = rewriteConfigDtype(text, params.dominant, spelled, !params.mixed);
      if (edited === text) await copyFile(path, params.target(name));
      else await writeFile(params.target(name), edited);
      config = { before: Object.fromEntries(claims.map((c) => [c.key, c.value])), after: params.dominant ? configName(params.dominant) : null };
    } else {
      await copyFile(path, params.target(name));
    }
    files.push(name);
  }
  const provenance = makeProvenance({ ...params.provenance, corrections: configCorrections(config) });
  if (params.card !== false) {
    const card = params.card;
    if (card.file) {
      await copyFile(card.file, params.target("README.md"));
    } else {
      const cfg = await readJson(model.files.get("config.json"));
      const architectures = Array.isArray(cfg?.["architectures"]) ? (cfg["architectures"] as unknown[]).filter((a): a is string => typeof a === "string") : undefined;
      const nameOrPath = typeof cfg?.["_name_or_path"] === "string" ? (cfg["_name_or_path"] as string) : undefined;
      const baseModel = card.baseModel ?? model.baseModel ?? (nameOrPath && looksLikeHubId(nameOrPath) && nameOrPath.includes("/") ? nameOrPath : undefined);
      const text = renderModelCard(
        cardParamsFromExport(params.facts, {
          truecastVersion: truecastVersion(),
          ...(baseModel ? { baseModel } : {}),
          ...(card.license ? { license: card.license } : {}),
          ...(card.repoId ? { repoId: card.repoId } : {}),
          ...(card.tags ? { tags: card.tags } : {}),
          ...(card.mergedAdapter ? { mergedAdapter: card.mergedAdapter } : {}),
          ...(card.frozenFromBase ? { frozenFromBase: card.frozenFromBase } : {}),
          ...(architectures ? { architectures } : {}),
          provenance,
          ...(params.sourceFiles ? { sourceFiles: params.sourceFiles } : {}),
          holds: { config: model.files.has("config.json"), tokenizer: TOKENIZER_FILE_NAMES.some((n) => model.files.has(n)) },
        }),
      );
      await writeFile(params.target("README.md"), text);
    }
    files.push("README.md");
  }
  return { files, config, provenance };
}

/** config.json in the output must state the dtype measured from the written tensors. */
export async function checkConfigAfterWrite(path: string, dominant: FloatDType | null): Promise<boolean> {
  if (dominant === null) return true;
  const claims = configClaims(await readSideFile(path, CONFIG_FILE), path);
  return claims.length > 0 && claims.every((c) => c.dtype === dominant);
}
