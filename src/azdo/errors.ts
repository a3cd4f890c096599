/** Errors from Azure DevOps REST calls. Messages name the organization, the pool and the fix. */
export class AzureDevOpsError extends Error {
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
      `Agent pool "${pool}" does not exist in ${organizationUrl}` +
        (existing.length > 0 ? `. Pools there: ${existing.join(", ")}` : "") +
        `. Create a self-hosted pool named "${pool}" (Organization settings > Agent pools) or correct the connection's agent pool.`,
      404,
      false,
    );
    this.name = "PoolNotFoundError";
  }
}
