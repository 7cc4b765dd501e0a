import { ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { lab } from "./helpers";

/** The Rust load client (bench/vipload): `cargo build -p vipload`. */
export const LOAD = path.resolve(__dirname, "../../target/debug/flotilla-vip-load");

export interface Load {
  child: ChildProcess;
  out: string[];
  stop: string;
}

export interface LoadResult {
  total: number;
  ok: number;
  failed: number;
  retried: number;
  failures: Record<string, number>;
  served_by: Record<string, number>;
  moves: number;
}

/** 50 requests/s to `vip`:8080, each on a new connection, until stopped (at most 15 min). */
export function startLoad(dir: string, name: string, vip: string, extra: string[]): Load {
  const stop = path.join(dir, `${name}.stop`);
  const out: string[] = [];
  const child = spawn(LOAD, ["--target", `${vip}:8080`, "--rate", "50", "--secs", "900", "--stop-file", stop,
    "--failures", path.join(dir, `${name}.failures`), ...extra], { stdio: ["ignore", "pipe", "inherit"] });
  child.stdout!.on("data", (d) => out.push(String(d)));
  return { child, out, stop };
}

export async function stopLoad(load: Load): Promise<LoadResult> {
  writeFileSync(load.stop, "");
  await new Promise<void>((resolve) => load.child.on("exit", () => resolve()));
  return JSON.parse(load.out.join(""));
}

/** The lab nodes whose interface carries `vip`. */
export function vipHolders(vip: string): string[] {
  return lab("vip-holders", vip).split("\n").filter((l) => l.length > 0);
}
