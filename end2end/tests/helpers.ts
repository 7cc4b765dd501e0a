import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { APIRequestContext, APIResponse, expect, Page } from "@playwright/test";

export const ADMIN_PASSWORD = process.env.FLOTILLA_ADMIN_PASSWORD ?? "flotilla-e2e-admin";
/** Where lab agents reach the panel (the panel's agent listener on the lab bridge). */
export const AGENT_URL = process.env.FLOTILLA_E2E_AGENT_URL ?? "http://10.77.0.1:3100";
const LAB = path.resolve(__dirname, "../lab/lab.sh");

/** Runs the lab script (root only; `./dev test` brings the lab up first). */
export function lab(...args: string[]): string {
  return execFileSync(LAB, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** The panel's process id now (`./dev` starts it again after a test kills it with SIGKILL). */
export function panelPid(): number {
  const file = process.env.FLOTILLA_E2E_PANEL_PID_FILE;
  return file ? Number(readFileSync(file, "utf8").trim()) : 0;
}

export async function hydrated(page: Page) {
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
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
}

/** Server functions whose input is JSON (drafts); the others take a form. */
const JSON_INPUT = ["create_cluster", "create_app", "add_app_version", "install_app", "save_registry_credential", "upgrade_nodes", "rollout_firmware",
  "cluster_node_action", "add_rollout_gate"];

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
