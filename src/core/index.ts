export * from "./agent-wait.ts";
export * from "./ports.ts";
export * from "./resolve.ts";
export * from "./rollback.ts";
export * from "./settings.ts";
export * from "./start.ts";
export * from "./terminate.ts";
export * from "./connection.ts";
