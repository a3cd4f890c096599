export * from "./client.ts";
export * from "./errors.ts";
export * from "./model.ts";
export * from "./registration.ts";
