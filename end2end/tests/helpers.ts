import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { APIRequestContext, APIResponse, expect, Page, test } from "@playwright/test";

export const ADMIN_PASSWORD = process.env.FLOTILLA_ADMIN_PASSWORD ?? "flotilla-e2e-admin";
/** Where lab agents reach the panel (the panel's agent listener on the lab bridge). */
export const AGENT_URL = process.env.FLOTILLA_E2E_AGENT_URL ?? "http://10.77.0.1:3100";
const LAB = path.resolve(__dirname, "../lab/lab.sh");

/**
 * A new scratch directory for a spec's files: under the run's own directory, which `./dev`
 * removes when it cleans up (FLOTILLA_E2E_TMP), else under the system's temporary directory.
 */
export function tempDir(prefix: string): string {
  const root = process.env.FLOTILLA_E2E_TMP ?? os.tmpdir();
  mkdirSync(root, { recursive: true });
  return mkdtempSync(path.join(root, prefix));
}

/** Runs the lab script (root only; `./dev test` brings the lab up first). */
export function lab(...args: string[]): string {
  return execFileSync(LAB, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** Runs the lab script with `env` (e.g. LAB_AGENT_PROFILE) instead of this process's. */
export function labWith(env: NodeJS.ProcessEnv, ...args: string[]): string {
  return execFileSync(LAB, args, { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** The panel's process id now (`./dev` starts it again after a test kills it with SIGKILL). */
export function panelPid(): number {
  const file = process.env.FLOTILLA_E2E_PANEL_PID_FILE;
  return file ? Number(readFileSync(file, "utf8").trim()) : 0;
}

/** Pages whose browser errors are already reported. */
const watched = new WeakSet<Page>();

/**
 * Prints the page's uncaught errors and console errors (a panic of the WASM front end shows
 * there) as "browser error: …", which `./dev` repeats after a failure.
 */
function reportBrowserErrors(page: Page) {
  if (watched.has(page)) return;
  watched.add(page);
  const at = () => new Date().toISOString().slice(11, 23);
  page.on("pageerror", (e) => console.log(`browser error: ${at()} ${page.url()}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`browser error: ${at()} ${page.url()}: ${m.text().slice(0, 600)}`);
  });
}

/**
 * Confirms the open confirmation dialog and waits until it is gone. A click that is lost (once,
 * unexplained, the dialog of an app's uninstall stayed open for 90 s after it) is given again
 * while the dialog is still there.
 */
export async function confirmDialog(page: Page) {
  const confirm = page.getByTestId("confirm");
  await expect(confirm).toBeVisible();
  await expect(async () => {
    if ((await confirm.count()) > 0) await confirm.click({ timeout: 2_000 });
    await expect(confirm).toHaveCount(0, { timeout: 3_000 });
  }).toPass({ timeout: 30_000 });
}

export async function hydrated(page: Page) {
  reportBrowserErrors(page);
  await expect(page.locator("#app")).toHaveAttribute("data-hydrated", "true");
}

export async function login(page: Page, username: string, password: string) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("whoami")).toContainText(username);
  await hydrated(page);
}

export async function logout(page: Page) {
  // The button is live once the page hydrated, its route's lazily loaded module included.
  await hydrated(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
}

/** Server functions whose input is JSON (drafts); the others take a form. */
const JSON_INPUT = ["create_cluster", "create_app", "add_app_version", "install_app", "save_registry_credential", "upgrade_nodes", "rollout_firmware",
  "cluster_node_action", "add_rollout_gate", "save_global_secret", "edit_cluster", "add_cluster_node"];

/** Calls a server function as the browser would, and returns the raw answer. */
export async function call(request: APIRequestContext, name: string, data: Record<string, any>): Promise<APIResponse> {
  return JSON_INPUT.includes(name)
    ? request.post(`/api/${name}`, { headers: { "Content-Type": "application/json", Accept: "application/json" }, data })
    : request.post(`/api/${name}`, { headers: { Accept: "application/json" }, form: data });
}

/** Calls a server function that must succeed, and returns its JSON answer. */
export async function api(request: APIRequestContext, name: string, data: Record<string, any>): Promise<any> {
  const answer = await call(request, name, data);
  expect(answer.status(), `${name}: ${await answer.text()}`).toBe(200);
  return answer.json();
}

/**
 * Takes apart every cluster a failed earlier spec left behind (aborting what still runs on it),
 * so one failure does not turn into "already in cluster …" in every spec after it. Does nothing
 * when the panel has no cluster, as after a green spec.
 */
export async function removeLeftoverClusters(request: APIRequestContext) {
  const list = async () => (await api(request, "list_clusters", {})).data.page.rows as { id: string; name: string }[];
  const left = await list();
  if (left.length > 0) test.info().setTimeout(test.info().timeout + 360_000);
  for (const c of left) {
    console.log(`removing cluster ${c.name}, left behind by an earlier spec`);
    const detail = (await api(request, "get_cluster", { id: c.id })).data as { workflow?: { id: string; status: string } | null };
    const w = detail.workflow;
    if (w && ["running", "paused"].includes(w.status)) {
      await call(request, "act_on_workflow", { id: c.id, workflow_id: w.id, action: "abort" });
    }
  }
  for (const c of left) {
    await expect.poll(async () => (await call(request, "delete_cluster", { id: c.id })).status(),
      { timeout: 60_000, intervals: [1_000] }).toBe(200);
  }
  await expect.poll(async () => (await list()).length, { timeout: 240_000, intervals: [2_000] }).toBe(0);
}
