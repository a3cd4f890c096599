// The stand-in Azure Pipelines agent package: built from layout/, served by the Azure DevOps emulator.
export { buildAgentPackage, unpackAgentPackage, LAYOUT_DIR } from "./build.ts";
export type { AgentPackage, BuildOptions } from "./build.ts";
