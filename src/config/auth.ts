import type { ControllerAuth } from "../core/index.ts";
import { ConfigError } from "./errors.ts";

/**
 * The one place that turns the authentication settings (CLI and pool service) into the core's `ControllerAuth`
 * (src/core/connection.ts, shared with the tasks and the pool service). The config file uses the
 * pool service's forms: `auth: none`, `{ rootToken }`, `{ certificate: { certificateFile, keyFile } }`,
 * `{ uak: { id, privateKey | keyFile } }`. A new kind of `ControllerAuth` needs its settings in
 * SETTINGS (schema.ts), a method name here and a case below; its secrets must reach the scrubber.
 */
export const AUTH_METHODS = ["none", "root-token", "certificate", "uak"] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

export interface AuthInputs {
  /** Explicit choice (--auth / ANKA_AUTH / `auth: <method>` in the file); inferred when absent. */
  method?: string;
  rootToken?: string;
  /** PEM texts, already read from their files. */
  clientCertificate?: string;
  clientKey?: string;
  uakId?: string;
  /** The UAK private key (PEM or its base64 body). */
  uakKey?: string;
}

export function controllerAuthFrom(inputs: AuthInputs): ControllerAuth {
  const configured: AuthMethod[] = [];
  if (inputs.rootToken) configured.push("root-token");
  if (inputs.clientCertificate || inputs.clientKey) configured.push("certificate");
  if (inputs.uakId || inputs.uakKey) configured.push("uak");
  if (!inputs.method && configured.length > 1)
    throw new ConfigError(
      `Settings for ${configured.join(" and ")} authentication are all given: choose one with --auth (or ANKA_AUTH).`,
    );
  const method = inputs.method ?? configured[0] ?? "none";
  switch (method) {
    case "none":
      return { kind: "none" };
    case "root-token":
      if (!inputs.rootToken)
        throw new ConfigError(
          "Authentication root-token needs the controller's root token: set ANKA_ROOT_TOKEN, or controller.auth.rootToken in the config file.",
        );
      return { kind: "rootToken", token: inputs.rootToken };
    case "certificate":
      if (!inputs.clientCertificate || !inputs.clientKey)
        throw new ConfigError(
          "Certificate authentication needs the client certificate and its key: --client-cert and --client-key (ANKA_CLIENT_CERT_FILE, ANKA_CLIENT_KEY_FILE; in a file controller.auth.certificate.certificateFile and keyFile).",
        );
      return { kind: "certificate", certificate: inputs.clientCertificate, privateKey: inputs.clientKey };
    case "uak":
      if (!inputs.uakId || !inputs.uakKey)
        throw new ConfigError(
          "UAK authentication needs the key's id and private key: --uak-id and --uak-key-file (ANKA_UAK_ID, and ANKA_UAK_KEY_FILE or ANKA_UAK_KEY; in a file controller.auth.uak.id and keyFile or privateKey).",
        );
      return { kind: "uak", id: inputs.uakId, privateKey: inputs.uakKey };
    default:
      throw new ConfigError(
        `Unknown controller authentication "${method}": use one of ${AUTH_METHODS.join(", ")}.`,
      );
  }
}
