/** Errors from Azure DevOps REST calls. Messages name the organization, the pool and the fix. */
export class AzureDevOpsError extends Error {
  /** From `Retry-After` on a 429 or 503: the retry waits this long instead of its own backoff. */
  retryAfterMs?: number;

  constructor(
    message: string,
    readonly httpStatus: number | undefined,
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "AzureDevOpsError";
  }
}

/** The PAT was refused, or may not do what we asked. */
export class AzureDevOpsPermissionError extends AzureDevOpsError {
  constructor(message: string, httpStatus: number) {
    super(message, httpStatus, false);
    this.name = "AzureDevOpsPermissionError";
  }
}

export class PoolNotFoundError extends AzureDevOpsError {
  constructor(
    readonly pool: string,
    organizationUrl: string,
    existing: string[],
  ) {
    super(
      `Agent pool "${pool}" is unknown in ${organizationUrl}, or not visible to this PAT: Azure DevOps answers both with an empty list` +
        (existing.length > 0
          ? `. Pools this PAT can see: ${existing.join(", ")}`
          : ". This PAT can see no self-hosted pool at all") +
        `. To tell them apart, open Organization settings > Agent pools as the PAT's owner: if "${pool}" is listed there, ` +
        `give that user the Reader (or Administrator) role on it in the pool's Security tab; if not, create a self-hosted pool named "${pool}" or correct the connection's agent pool.`,
      404,
      false,
    );
    this.name = "PoolNotFoundError";
  }
}
