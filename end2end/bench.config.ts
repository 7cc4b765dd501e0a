import base from "./playwright.config";
import { defineConfig } from "@playwright/test";

// Benchmarks against the real lab (`./dev bench workloads` sets them up): never part of `./dev test`.
export default defineConfig({
  ...base,
  testDir: "./bench",
  testMatch: "*.bench.ts",
  webServer: undefined,
});
