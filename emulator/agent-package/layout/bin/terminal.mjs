// Console output in the shape of the real agent's messages (its en-US strings), masked.
import console from "node:console";
import { maskSecrets } from "./capabilities.mjs";

export class Terminal {
  constructor() {
    this.secrets = [];
  }

  addSecret(value) {
    if (value) this.secrets.push(value);
  }

  line(text = "") {
    console.log(maskSecrets(text, this.secrets));
  }

  section(title) {
    this.line();
    this.line(`>> ${title}:`);
    this.line();
  }

  error(text) {
    console.error(maskSecrets(text, this.secrets));
  }

  /** The agent's "{0:u}" timestamp, e.g. 2026-08-20 10:00:00Z. */
  static stamp(date = new Date()) {
    return `${date.toISOString().slice(0, 19).replace("T", " ")}Z`;
  }
}
