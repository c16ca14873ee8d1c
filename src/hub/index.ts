export { publishFolder, type PublishFolderParams } from "./publish-folder.js";
export { createUploadSession, type UploadSession, type UploadSessionParams, type UploadedFile } from "./upload-session.js";
export type { CommitResult } from "./commit-request.js";
export type { PublishEvent, PublishReport, PublishedFile, FileState, PublishPhase } from "./events.js";
export { resolveToken, resolveEndpoint, DEFAULT_ENDPOINT, type ResolvedToken, type ResolveTokenParams } from "./token.js";
export { parseRepoId, type RepoId } from "./repo-id.js";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry.js";
export { redactToken } from "./hub-errors.js";
