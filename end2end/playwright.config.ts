import { defineConfig } from "@playwright/test";

// The panel under test: `./dev test` starts the release build over HTTPS (BASE_URL) with a
// throwaway data directory and the lab's agent listener; without it, `./dev run` (reused when one runs).
const BASE_URL = process.env.BASE_URL ?? "http://127.0.0.1:3000";

export default defineConfig({
  testDir: "./tests",
  timeout: 120_000,
  expect: { timeout: 20_000 },
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: BASE_URL,
    // `./dev test` serves HTTPS with a certificate from a throwaway CA that Chromium does not know.
    ignoreHTTPSErrors: true,
    browserName: "chromium",
    headless: true,
    // PW_TRACE=1 keeps a trace of every failed test (test-results/*/trace.zip).
    trace: process.env.PW_TRACE ? "retain-on-failure" : "off",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--headless",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
  webServer: {
    command: "./dev run",
    cwd: "..",
    url: `${BASE_URL}/healthz`,
    reuseExistingServer: true,
    ignoreHTTPSErrors: true,
    timeout: 900_000,
    stdout: "ignore",
    stderr: "pipe",
    gracefulShutdown: { signal: "SIGINT", timeout: 10_000 },
  },
});
