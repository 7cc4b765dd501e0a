import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, Page, test } from "@playwright/test";
import { ADMIN_PASSWORD, api, call, hydrated, lab, login, logout, removeLeftoverClusters, tempDir } from "./helpers";

// Builds on 01 (three lab nodes online, their agents given the lab's A/B installer) and on the
// clusters of 05-07 being deleted again: every node is standalone here. Each upgrade is read on
// the node: the lab installer's booted and committed slots.
const DIR = tempDir("flotilla-fw-");
/** The panel's data directory (./dev test passes it), where artifacts are stored. */
const DATA_DIR = process.env.FLOTILLA_E2E_DATA_DIR ?? "";
const ARCH = os.arch() === "arm64" ? "aarch64" : "x86_64";

function firmware(version: string, bad = false): string {
  const file = path.join(DIR, `${version}.fw`);
  lab("make-firmware", version, file, ...(bad ? ["bad"] : []));
  return file;
}

/** `booted=… version=… committed=… next=…` of a lab node, as a map. */
function slots(node: string): Record<string, string> {
  return Object.fromEntries(lab("firmware", node).split(" ").map((kv) => kv.split("=") as [string, string]));
}

async function upload(page: Page, version: string, target: string, file: string) {
  await page.getByTestId("firmware-version").fill(version);
  await page.getByTestId("firmware-target").fill(target);
  await page.getByTestId("firmware-file").setInputFiles(file);
  await page.getByTestId("upload").click();
  await expect(page.locator(`[data-testid="firmware-row"][data-version="${version}"]`)).toBeVisible({ timeout: 30_000 });
}

async function upgrade(page: Page, version: string, host: string, gate: string) {
  const form = page.getByTestId("upgrade-form");
  await form.getByTestId("upgrade-artifact").selectOption({ label: `${version} (${ARCH})` });
  await form.locator(`[data-testid="firmware-node"][data-hostname="${host}"] input[type="checkbox"]`).check();
  await form.getByTestId("upgrade-gate").fill(gate);
  await form.getByTestId("start-upgrade").click();
}

function latest(page: Page) {
  return page.locator('[data-testid="workflow"][data-kind="firmware-upgrade"]').first();
}

test.describe.serial("firmware", () => {
  test.setTimeout(300_000);

  test("a Supervisor uploads signed images with a progress bar; bad metadata is named inline", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await removeLeftoverClusters(page.request);
    await page.goto("/firmware");
    await hydrated(page);
    await page.getByTestId("firmware-version").fill("2.0 beta");
    await page.getByTestId("upload").click();
    await expect(page.getByTestId("error-version")).toContainText("letters, digits");
    await expect(page.getByTestId("error-target")).toContainText("Give the target");

    // A larger image over a throttled link shows its progress.
    const big = path.join(DIR, "big.img");
    writeFileSync(big, Buffer.alloc(6 * 1024 * 1024, 7));
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 2 * 1024 * 1024,
    });
    await page.getByTestId("firmware-version").fill("demo-1");
    await page.getByTestId("firmware-target").fill("aarch64/demo");
    await page.getByTestId("firmware-file").setInputFiles(big);
    await page.getByTestId("upload").click();
    await expect(page.getByTestId("upload-progress")).toBeVisible();
    await expect.poll(async () => Number(await page.getByTestId("upload-progress").getAttribute("value")), { timeout: 10_000 })
      .toBeGreaterThan(0);
    const row = page.locator('[data-testid="firmware-row"][data-version="demo-1"]');
    await expect(row).toBeVisible({ timeout: 30_000 });
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await expect(row.getByTestId("firmware-size")).toHaveText("6.0 MiB");
    await row.getByTestId("delete-firmware").click();
    await page.getByTestId("confirm").click();
    await expect(row).toHaveCount(0);

    await upload(page, "lab-2.0.0", ARCH, firmware("lab-2.0.0"));
    await upload(page, "lab-3.0.0", ARCH, firmware("lab-3.0.0", true));
    // The same version and target again is refused.
    await page.getByTestId("firmware-version").fill("lab-2.0.0");
    await page.getByTestId("firmware-target").fill(ARCH);
    await page.getByTestId("firmware-file").setInputFiles(firmware("lab-2.0.0"));
    await page.getByTestId("upload").click();
    await expect(page.getByTestId("toast").last()).toContainText("exists already");
  });

  test("Editors and Viewers can neither upload nor upgrade", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await api(page.request, "create_user", { username: "edna", password: "editor-password-8", role: "editor" });
    await logout(page);
    await login(page, "edna", "editor-password-8");
    await page.goto("/firmware");
    await hydrated(page);
    await expect(page.locator('[data-testid="firmware-row"][data-version="lab-2.0.0"]')).toBeVisible();
    await expect(page.getByTestId("upload-form")).toHaveCount(0);
    await expect(page.getByTestId("upgrade-form")).toHaveCount(0);
    await expect(page.getByTestId("delete-firmware")).toHaveCount(0);
    const sent = await page.request.post("/api/firmware/upload?version=9&target=x86_64", { data: Buffer.from("version=9\n") });
    expect(sent.status()).toBe(403);
    const nodes = (await api(page.request, "firmware_nodes", {})) as { id: string }[];
    const started = await call(page.request, "upgrade_nodes", {
      draft: { artifact_id: "x", node_ids: [nodes[0].id], concurrency: "1", gate_secs: "60" },
    });
    expect(started.status()).toBe(403);
    expect((await call(page.request, "delete_firmware", { id: "x" })).status()).toBe(403);
    await logout(page);
  });

  test("a standalone node is upgraded: install, reboot, back healthy, commit — as its slots show", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/firmware");
    await hydrated(page);
    expect(slots("n3")).toMatchObject({ version: "lab-1.0.0", booted: "a", committed: "a" });
    await upgrade(page, "lab-2.0.0", "edge-3", "90");
    const run = latest(page);
    await expect(run).toHaveAttribute("data-status", "done", { timeout: 180_000 });
    await expect(run.getByTestId("timeline-step")).toHaveText([
      /Download and install lab-2.0.0 on edge-3/,
      /Reboot edge-3 into lab-2.0.0/,
      /Wait until edge-3 run lab-2.0.0 healthy/,
      /Commit lab-2.0.0 on edge-3/,
    ]);
    expect(slots("n3")).toMatchObject({ version: "lab-2.0.0", booted: "b", committed: "b", next: "-" });
    const node = page.locator('[data-testid="firmware-node"][data-hostname="edge-3"]');
    await expect(node.getByTestId("node-firmware")).toHaveText("lab-2.0.0");
    await expect(node.getByTestId("node-firmware-state")).toContainText("lab-2.0.0 committed");
    // Upgrading to what it runs already is refused, naming the node.
    await upgrade(page, "lab-2.0.0", "edge-3", "90");
    await expect(page.getByTestId("error-nodes")).toContainText("edge-3 runs lab-2.0.0 already");
  });

  test("a firmware whose node never gets healthy is rolled back and the upgrade pauses with the reason", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/firmware");
    await hydrated(page);
    await upgrade(page, "lab-3.0.0", "edge-3", "40");
    const run = latest(page);
    await expect(run).toHaveAttribute("data-status", "paused", { timeout: 180_000 });
    await expect(run).toContainText("edge-3: not healthy on lab-3.0.0 within 40 s");
    // The node rebooted into its committed slot, with its engine.
    await expect.poll(() => slots("n3").version, { timeout: 150_000 }).toBe("lab-2.0.0");
    expect(slots("n3")).toMatchObject({ booted: "b", committed: "b" });
    await expect.poll(() => { try { return lab("docker", "n3", "info", "--format", "{{.ServerVersion}}").length > 0; } catch { return false; } }, { timeout: 60_000 }).toBe(true);
    const node = page.locator('[data-testid="firmware-node"][data-hostname="edge-3"]');
    await expect(node.getByTestId("node-firmware-state")).toContainText("lab-3.0.0 rolled back", { timeout: 60_000 });
    await run.getByTestId("workflow-abort").click();
    await page.getByTestId("confirm").click();
    await expect(run).toHaveAttribute("data-status", "aborted");
  });

  test("a tampered artifact is refused by the agent, which says why", async ({ page }) => {
    test.skip(DATA_DIR === "", "needs FLOTILLA_E2E_DATA_DIR (./dev test sets it)");
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/firmware");
    await hydrated(page);
    await upload(page, "lab-4.0.0", ARCH, firmware("lab-4.0.0"));
    const views = (await api(page.request, "firmware_artifacts", {})).data as { id: string; version: string }[];
    const id = views.find((v) => v.version === "lab-4.0.0")!.id;
    const stored = path.join(DATA_DIR, "firmware", id);
    expect(readdirSync(path.join(DATA_DIR, "firmware"))).toContain(id);
    const bytes = readFileSync(stored);
    bytes[0] ^= 1;
    writeFileSync(stored, bytes);
    await upgrade(page, "lab-4.0.0", "edge-2", "60");
    const run = latest(page);
    await expect(run).toHaveAttribute("data-status", "failed", { timeout: 60_000 });
    await expect(run).toContainText("edge-2: the downloaded artifact does not match its manifest");
    expect(slots("n2")).toMatchObject({ version: "lab-1.0.0", committed: "a", next: "-" });
    const node = page.locator('[data-testid="firmware-node"][data-hostname="edge-2"]');
    await expect(node.getByTestId("node-firmware-state")).toContainText("lab-4.0.0 failed", { timeout: 30_000 });
  });
});
