export * from "./auth.ts";
export * from "./client.ts";
export * from "../clock.ts";
export * from "./errors.ts";
export * from "./model.ts";
export * from "../net/retry.ts";
export * from "./transport.ts";
export * from "./waiter.ts";
export type { TlsOptions } from "../net/http.ts";
