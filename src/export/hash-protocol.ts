/** Messages between the export and its hashing worker. */
export interface HashTask {
  readonly id: number;
  readonly path: string;
  readonly ranges: readonly { readonly start: number; readonly length: number }[];
}

export type HashReply = { readonly id: number; readonly digests: string[] } | { readonly id: number; readonly error: string };

