/** Messages between the export and its hashing worker. */
export interface HashTask {
  readonly id: number;
  readonly path: string;
  readonly ranges: readonly { readonly start: number; readonly length: number }[];
}

export type HashReply = { readonly id: number; readonly digests: string[] } | { readonly id: number; readonly error: string };

/** Messages to the streaming hasher: bytes of stream `stream`, or a request for its digest (which ends it). */
export type StreamHashTask =
  | { readonly kind: "update"; readonly stream: number; readonly chunk: Uint8Array }
  | { readonly kind: "digest"; readonly stream: number };

export type StreamHashReply =
  | { readonly kind: "ack"; readonly bytes: number }
  | { readonly kind: "digest"; readonly stream: number; readonly digest: string };
