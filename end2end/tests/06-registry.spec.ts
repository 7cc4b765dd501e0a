import { expect, Page, test } from "@playwright/test";
import { ADMIN_PASSWORD, api, call, hydrated, lab, login, logout, removeLeftoverClusters } from "./helpers";

// Builds on 01 (three lab nodes online) and `lab.sh registry` (./dev test starts it): a private
// registry at 10.77.0.1:5000 with htpasswd auth, trusted by every node, holding flotilla/hello:1.
const REGISTRY = "10.77.0.1:5000";
const USER = "lab";
const PASSWORD = process.env.FLOTILLA_REGISTRY_PASSWORD ?? "lab-registry-secret";

const HELLO = `services:
  hello:
    image: ${REGISTRY}/flotilla/hello:1
    environment:
      NODE: "{{.Node.Hostname}}"
    deploy:
      mode: global
      endpoint_mode: dnsrr
`;

function running(service: string): string[] {
  return lab("docker", "n1", "service", "ps", service, "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}")
    .split("\n")
    .filter((l) => l.includes(" Running"))
    .map((l) => l.split(" ")[0])
    .sort();
}

function checks(page: Page) {
  return page.locator(`[data-testid="credential-row"][data-registry="${REGISTRY}"] [data-testid="credential-check"]`);
}

let clusterId = "";

test.describe.serial("registry credentials", () => {
  test.setTimeout(240_000);

  test("a private image does not deploy without a credential: the card shows the pull error", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await removeLeftoverClusters(page.request);
    const nodes = (await api(page.request, "list_nodes", {})).data.page.rows as { id: string; hostname: string }[];
    const member = (host: string) => ({
      node_id: nodes.find((n) => n.hostname === host)!.id, role: "manager", labels: "", interface: "eth0", vip: false,
    });
    clusterId = await api(page.request, "create_cluster", {
      draft: {
        definition: {
          name: "private", volumes: false, vip_enabled: false, vips: [], synctime: "0.1",
          pools: ["10.200.0.0/16"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
        },
        members: [member("edge-1"), member("edge-2"), member("edge-3")],
      },
    });
    const app = await api(page.request, "create_app", { draft: { name: "Hello private", kind: "app", model_format: "", description: "" } });
    const version = await api(page.request, "add_app_version", { app_id: app, draft: { version: "1", compose: HELLO } });
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 150_000 });
    await expect(page.getByTestId("no-credentials")).toBeVisible();
    await api(page.request, "install_app", {
      cluster_id: clusterId,
      draft: { version_id: version, name: "hello", secrets: [], services: [{ name: "hello", mode: "global", replicas: "1", constraints: "", spread: "", ports: [] }] },
    });
    const row = page.locator('[data-testid="app-card"][data-name="hello"] [data-testid="service-row"][data-service="hello"]');
    await expect(row.getByTestId("service-errors")).toContainText(/no such image|no basic auth credentials|unauthorized|denied/i, { timeout: 90_000 });
    expect(running("hello_hello")).toEqual([]);
  });

  test("a wrong password is invalid on every node, with the registry's words", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    const form = page.getByTestId("credential-form");
    await form.getByLabel("Registry").fill("http://" + REGISTRY);
    await form.getByLabel("User").fill(USER);
    await form.getByLabel("Password or token").fill("wrong-password");
    await page.getByTestId("save-credential").click();
    await expect(page.getByTestId("error-registry")).toContainText("HTTPS only");
    await form.getByLabel("Registry").fill(REGISTRY);
    await page.getByTestId("save-credential").click();
    await expect(checks(page)).toHaveCount(3);
    for (const node of ["edge-1", "edge-2", "edge-3"]) {
      const check = checks(page).and(page.locator(`[data-node="${node}"]`));
      await expect(check).toHaveAttribute("data-status", "invalid", { timeout: 60_000 });
      await expect(check).toContainText(/401|unauthorized/i);
    }
  });

  test("the right password is valid everywhere and is re-applied: the service runs on every node", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    const form = page.getByTestId("credential-form");
    await form.getByLabel("Registry").fill(REGISTRY);
    await form.getByLabel("User").fill(USER);
    await form.getByLabel("Password or token").fill(PASSWORD);
    await page.getByTestId("save-credential").click();
    for (const node of ["edge-1", "edge-2", "edge-3"]) {
      await expect(checks(page).and(page.locator(`[data-node="${node}"]`))).toHaveAttribute("data-status", "valid", { timeout: 60_000 });
    }
    const row = page.locator('[data-testid="app-card"][data-name="hello"] [data-testid="service-row"][data-service="hello"]');
    await expect(row).toHaveAttribute("data-state", "running", { timeout: 120_000 });
    await expect(row.getByTestId("service-progress")).toHaveText("3/3 running");
    expect(running("hello_hello")).toEqual(["edge-1", "edge-2", "edge-3"]);
    // The activity names the re-application.
    const apply = page.locator('[data-testid="workflow"][data-kind="apply-credentials"]').first();
    await expect(apply).toHaveAttribute("data-status", "done");
    await expect(apply).toContainText("Give hello_hello the new credential");
    // The service answers with its node's hostname (Swarm's template), from the private image.
    await row.getByTestId("service-logs").click();
    await expect(page.getByTestId("logs")).toContainText("serving on edge-");
  });

  test("export has no passwords, import is all or nothing, and no response carries a password", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const exported = await api(page.request, "export_registry_credentials", { cluster_id: clusterId });
    expect(exported).toBe(`registry,username\n${REGISTRY},${USER}\n`);
    const bad = await page.request.post("/api/import_registry_credentials", {
      headers: { Accept: "application/json" },
      form: { cluster_id: clusterId, csv: `registry,username,password\nother.lab:5000,ci,pw\nnot a line\n` },
    });
    expect(bad.status()).toBe(422);
    expect(await bad.text()).toContain("line 3");
    const list = await page.request.post("/api/registry_credentials", { headers: { Accept: "application/json" }, form: { cluster_id: clusterId } });
    const text = await list.text();
    expect(text).not.toContain(PASSWORD);
    expect(JSON.parse(text).map((c: { registry: string }) => c.registry)).toEqual([REGISTRY]);

    // A Viewer sees that the credential exists, and cannot change it.
    await api(page.request, "create_user", { username: "rita", password: "viewer-password-7", role: "viewer" });
    await logout(page);
    await login(page, "rita", "viewer-password-7");
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await expect(page.locator(`[data-testid="credential-row"][data-registry="${REGISTRY}"]`)).toContainText(USER);
    await expect(page.getByTestId("credential-form")).toHaveCount(0);
    for (const [name, body] of [
      ["save_registry_credential", { cluster_id: clusterId, draft: { registry: REGISTRY, username: "x", password: "y" } }],
      ["import_registry_credentials", { cluster_id: clusterId, csv: "" }],
      ["delete_registry_credential", { cluster_id: clusterId, id: "x" }],
    ] as const) {
      const answer = await call(page.request, name, body);
      expect(answer.status(), name).toBe(403);
    }
    await logout(page);
  });

  test("cleanup: uninstall and delete the cluster", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await page.locator('[data-testid="app-card"][data-name="hello"]').getByTestId("uninstall").click();
    await page.getByTestId("confirm").click();
    await expect(page.getByTestId("no-apps")).toBeVisible({ timeout: 90_000 });
    await page.getByTestId("delete-cluster").click();
    await page.getByTestId("confirm").click();
    await expect(page.getByTestId("cluster-gone")).toBeVisible({ timeout: 120_000 });
  });
});
