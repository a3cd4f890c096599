/**
 * The elastic pool service (contract §6): the third adapter over the core, after the tasks and the
 * CLI. It keeps an Azure Pipelines pool supplied with single-use macOS VMs with no pipeline wiring.
 */
export * from "./classes.ts";
export * from "./config.ts";
export * from "./identity.ts";
export * from "./log.ts";
export * from "./main.ts";
export * from "./metrics.ts";
export * from "./plan.ts";
export * from "./reconciler.ts";
export * from "./service.ts";
