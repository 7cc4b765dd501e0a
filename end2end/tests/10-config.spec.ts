import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, Page, test } from "@playwright/test";
import { ADMIN_PASSWORD, api, call, hydrated, lab, login, logout, removeLeftoverClusters } from "./helpers";

// Builds on 01 (three lab nodes online, standalone again after 09). A cluster of the three runs
// an app with a global service; its Global Config is edited in the browser and read inside the
// running container on every node (`docker exec … cat /appconfig/global.json`). A node whose
// agent is stopped during a change shows "pending" and catches up by itself when it returns.
const IMAGE = "flotilla-lab/busybox:1";
const READER = `services:
  reader:
    image: ${IMAGE}
    command: [sleep, "86400"]
    deploy:
      mode: global
      endpoint_mode: dnsrr
`;
const DIR = mkdtempSync(path.join(os.tmpdir(), "flotilla-config-"));
const NODES = ["n1", "n2", "n3"];

let clusterId = "";

/** /appconfig/global.json as the app's container on a lab node reads it ("" while none runs). */
function seenIn(node: string): string {
  const id = lab("docker", node, "ps", "-q", "--filter", "label=com.docker.swarm.service.name=configured_reader").split("\n")[0];
  if (!id) return "";
  try {
    return lab("docker", node, "exec", id, "/bin/busybox", "cat", "/appconfig/global.json");
  } catch {
    return "";
  }
}

/** The JSON in `text`, or null while it is not (yet) a document. */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function node(page: Page, host: string) {
  return page.locator(`[data-testid="config-node"][data-hostname="${host}"]`);
}

async function editor(page: Page) {
  await page.goto(`/clusters/${clusterId}`);
  await hydrated(page);
  return page.getByTestId("global-config");
}

test.describe.serial("global config", () => {
  test.setTimeout(240_000);

  test("a cluster runs an app on every node", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await removeLeftoverClusters(page.request);
    const nodes = (await api(page.request, "list_nodes", {})).data as { id: string; hostname: string }[];
    clusterId = await api(page.request, "create_cluster", {
      draft: {
        definition: {
          name: "configured", volumes: false, vip_enabled: false, vips: [], synctime: "0.1",
          pools: ["10.202.0.0/16"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
        },
        members: ["edge-1", "edge-2", "edge-3"].map((h) => ({
          node_id: nodes.find((n) => n.hostname === h)!.id, role: "manager", labels: "", interface: "eth0", vip: false,
        })),
      },
    });
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 150_000 });
    const app = await api(page.request, "create_app", { draft: { name: "Config reader", kind: "app", model_format: "", description: "" } });
    const version = await api(page.request, "add_app_version", { app_id: app, draft: { version: "1.0", compose: READER } });
    await api(page.request, "install_app", {
      cluster_id: clusterId,
      draft: { version_id: version, name: "configured", secrets: [], services: [] },
    });
    // Every container sees the (empty) document from the start.
    for (const n of NODES) await expect.poll(() => seenIn(n), { timeout: 90_000 }).toBe("{}");
  });

  test("invalid JSON cannot be sent: the error names its line and column; the server refuses it too", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const card = await editor(page);
    const text = card.getByTestId("config-editor");
    await text.fill('{\n  "line": "A",\n  "speed": 3,\n}');
    await expect(card.getByTestId("config-error")).toContainText("Line 4, column 1");
    await expect(card.getByTestId("config-send")).toBeDisabled();
    await text.fill("[1, 2]");
    await expect(card.getByTestId("config-error")).toContainText("one JSON object");
    await expect(card.getByTestId("config-send")).toBeDisabled();
    // Called directly, the server function refuses it by field, and nothing is stored.
    const answer = await call(page.request, "save_global_config", { cluster_id: clusterId, base: "0", document: "{\"a\": ", uploaded: "false" });
    expect(answer.status()).toBe(422);
    expect(await answer.text()).toContain("Line 1, column");
    // An upload that is not JSON is shown with its error and cannot be sent either.
    const notJson = path.join(DIR, "notes.json");
    writeFileSync(notJson, "speed = 3\n");
    await card.getByTestId("config-upload").setInputFiles(notJson);
    await expect(text).toHaveValue("speed = 3\n");
    await expect(card.getByTestId("config-error")).toContainText("Line 1, column");
    await expect(card.getByTestId("config-send")).toBeDisabled();
    expect((await api(page.request, "global_config", { cluster_id: clusterId })).data.version).toBe(0);
  });

  test("a change reaches the container on every node; each node shows synced", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const card = await editor(page);
    await card.getByTestId("config-editor").fill('{"line":"A","speed":3}');
    await card.getByTestId("config-format").click();
    await expect(card.getByTestId("config-editor")).toHaveValue('{\n  "line": "A",\n  "speed": 3\n}\n');
    await card.getByTestId("config-send").click();
    await expect(card.getByTestId("config-version")).toHaveAttribute("data-version", "1");
    for (const host of ["edge-1", "edge-2", "edge-3"]) {
      await expect(node(page, host)).toHaveAttribute("data-state", "synced");
      await expect(node(page, host)).toHaveAttribute("data-version", "1");
    }
    for (const n of NODES) expect(JSON.parse(seenIn(n))).toEqual({ line: "A", speed: 3 });
  });

  test("a node whose agent is stopped shows pending and catches up by itself when it returns", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    lab("stop-agent", "n3");
    const card = await editor(page);
    await card.getByTestId("config-editor").fill('{"line":"B","speed":4}');
    await card.getByTestId("config-send").click();
    await expect(card.getByTestId("config-version")).toHaveAttribute("data-version", "2");
    await expect(node(page, "edge-1")).toHaveAttribute("data-state", "synced");
    await expect(node(page, "edge-2")).toHaveAttribute("data-state", "synced");
    await expect(node(page, "edge-3")).toHaveAttribute("data-state", "pending");
    await expect(node(page, "edge-3").getByTestId("config-node-state")).toContainText("pending (holds v1)");
    expect(JSON.parse(seenIn("n1")).line).toBe("B");
    expect(JSON.parse(seenIn("n3")).line).toBe("A");
    lab("start-agent", "n3");
    await expect(node(page, "edge-3")).toHaveAttribute("data-state", "synced", { timeout: 60_000 });
    await expect(node(page, "edge-3")).toHaveAttribute("data-version", "2");
    expect(JSON.parse(seenIn("n3"))).toEqual({ line: "B", speed: 4 });
  });

  test("history shows what changed; an old version is restored; named saves load into the editor", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const card = await editor(page);
    const history = card.getByTestId("config-history");
    await history.locator("summary").click();
    const v2 = history.locator('[data-testid="config-history-entry"][data-version="2"]');
    await expect(v2).toContainText("~ /line: \"A\" → \"B\"");
    await expect(v2).toContainText("~ /speed: 3 → 4");
    await history.locator('[data-testid="config-history-entry"][data-version="1"]').getByTestId("config-restore").click();
    await page.getByTestId("confirm").click();
    await expect(card.getByTestId("config-version")).toHaveAttribute("data-version", "3");
    await expect(history.locator('[data-testid="config-history-entry"][data-version="3"]')).toContainText("restored v1");
    for (const n of NODES) await expect.poll(() => parsed(seenIn(n))).toEqual({ line: "A", speed: 3 });

    await card.getByTestId("config-save-name").fill("night shift");
    await card.getByTestId("config-editor").fill('{"line":"N"}');
    await card.getByTestId("config-save-as").click();
    await expect(card.getByTestId("config-load")).toBeVisible();
    await card.getByTestId("config-editor").fill("{}");
    await card.getByTestId("config-load").selectOption("night shift");
    await expect(card.getByTestId("config-editor")).toHaveValue('{"line":"N"}');
    // Saved under a name is not sent.
    expect(JSON.parse(seenIn("n1")).line).toBe("A");
  });

  test("Viewers read the config but every write is refused", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await api(page.request, "create_user", { username: "vera", password: "viewer-password-8", role: "viewer" });
    await logout(page);
    await login(page, "vera", "viewer-password-8");
    const card = await editor(page);
    await expect(card.getByTestId("config-version")).toHaveAttribute("data-version", "3");
    await expect(card.getByTestId("config-send")).toHaveCount(0);
    for (const [name, data] of [
      ["save_global_config", { cluster_id: clusterId, base: "3", document: "{}", uploaded: "false" }],
      ["reset_global_config", { cluster_id: clusterId, base: "3" }],
      ["restore_global_config", { cluster_id: clusterId, base: "3", version: "2" }],
      ["save_named_global_config", { cluster_id: clusterId, name: "x", document: "{}" }],
    ] as const) {
      expect((await call(page.request, name, data)).status(), name).toBe(403);
    }
    await logout(page);
  });

  test("reset empties it everywhere; cleanup: the app and the cluster go", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const card = await editor(page);
    await card.getByTestId("config-reset").click();
    await page.getByTestId("confirm").click();
    await expect(card.getByTestId("config-version")).toHaveAttribute("data-version", "4");
    for (const n of NODES) await expect.poll(() => seenIn(n)).toBe("{}");
    await page.getByTestId("delete-cluster").click();
    await page.getByTestId("confirm").click();
    await expect(page.getByTestId("cluster-gone")).toBeVisible({ timeout: 120_000 });
  });
});
