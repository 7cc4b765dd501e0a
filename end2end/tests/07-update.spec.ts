import { expect, test } from "@playwright/test";
import { ADMIN_PASSWORD, api, hydrated, lab, login, removeLeftoverClusters } from "./helpers";

// Builds on 01 (three lab nodes online). Uses the image every lab engine has locally.
const IMAGE = "flotilla-lab/busybox:1";

function version(n: number, extra = ""): string {
  return `services:
  web:
    image: ${IMAGE}
    command: [sleep, "3600"]
    environment:
      VERSION: "${n}"
${extra}    deploy:
      replicas: 3
      endpoint_mode: dnsrr
      placement:
        max_replicas_per_node: 1
      update_config:
        parallelism: 1
        delay: 2s
        order: stop-first
        failure_action: rollback
        monitor: 4s
`;
}

// Version 3 never becomes healthy: Swarm must roll it back.
const BROKEN = `    healthcheck:
      test: ["CMD", "/bin/busybox", "false"]
      interval: 1s
      timeout: 1s
      retries: 1
`;


/** Tasks of roller_web that run now, from a manager. */
function runningTasks(): number {
  return lab("docker", "n1", "service", "ps", "roller_web", "--filter", "desired-state=running", "--format", "{{.CurrentState}}")
    .split("\n")
    .filter((l) => l.startsWith("Running"))
    .length;
}

function env(): string {
  return lab("docker", "n1", "service", "inspect", "roller_web", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}");
}

let clusterId = "";
const versions: string[] = [];

test.describe.serial("update, rollback, stop and start", () => {
  test.setTimeout(300_000);

  test("an app is installed at version 1", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await removeLeftoverClusters(page.request);
    const nodes = (await api(page.request, "list_nodes", {})).data.page.rows as { id: string; hostname: string }[];
    const member = (host: string) => ({
      node_id: nodes.find((n) => n.hostname === host)!.id, role: "manager", labels: "", interface: "eth0", vip: false,
    });
    clusterId = await api(page.request, "create_cluster", {
      draft: {
        definition: {
          name: "roll", volumes: false, vip_enabled: false, vips: [], synctime: "0.1",
          pools: ["10.200.0.0/16"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
        },
        members: [member("edge-1"), member("edge-2"), member("edge-3")],
      },
    });
    const app = await api(page.request, "create_app", { draft: { name: "Roller", kind: "app", model_format: "", description: "" } });
    for (const [n, extra] of [[1, ""], [2, ""], [3, BROKEN]] as const) {
      versions.push(await api(page.request, "add_app_version", { app_id: app, draft: { version: `${n}.0`, compose: version(n, extra) } }));
    }
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 150_000 });
    await api(page.request, "install_app", {
      cluster_id: clusterId,
      draft: { version_id: versions[0], name: "roller", secrets: [], services: [] },
    });
    const row = page.locator('[data-testid="app-card"][data-name="roller"] [data-testid="service-row"][data-service="web"]');
    await expect(row).toHaveAttribute("data-state", "running", { timeout: 90_000 });
    await expect(row.getByTestId("service-progress")).toHaveText("3/3 running");
  });

  test("update to version 2 rolls the tasks one at a time, as the nodes show", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    const card = page.locator('[data-testid="app-card"][data-name="roller"]');
    await card.getByLabel("Update to").selectOption({ label: "2.0" });
    await card.getByTestId("update-app").click();
    // Sample the running tasks on a manager while Swarm rolls: one task at a time is replaced.
    const seen: number[] = [];
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      seen.push(runningTasks());
      if (env().includes("VERSION=2") && lab("docker", "n1", "service", "inspect", "roller_web", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}") === "completed") break;
      await page.waitForTimeout(250);
    }
    expect(env()).toContain("VERSION=2");
    expect(Math.min(...seen), `running tasks seen: ${seen.join(",")}`).toBe(2);
    await expect.poll(runningTasks, { timeout: 30_000 }).toBe(3);
    const row = card.locator('[data-testid="service-row"][data-service="web"]');
    await expect(row.getByTestId("service-version")).toHaveText("version 2.0", { timeout: 30_000 });
    await expect(row).toHaveAttribute("data-state", "running");
  });

  test("stop scales to zero and start brings the replicas back", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    const card = page.locator('[data-testid="app-card"][data-name="roller"]');
    const row = card.locator('[data-testid="service-row"][data-service="web"]');
    await card.getByTestId("stop-app").click();
    await expect(row).toHaveAttribute("data-state", "stopped", { timeout: 60_000 });
    await expect.poll(runningTasks, { timeout: 60_000 }).toBe(0);
    await card.getByTestId("start-app").click();
    await expect(row).toHaveAttribute("data-state", "running", { timeout: 90_000 });
    await expect.poll(runningTasks, { timeout: 60_000 }).toBe(3);
  });

  test("a version whose healthcheck fails is rolled back, and the card says why", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    const card = page.locator('[data-testid="app-card"][data-name="roller"]');
    await card.getByLabel("Update to").selectOption({ label: "3.0" });
    await card.getByTestId("update-app").click();
    const row = card.locator('[data-testid="service-row"][data-service="web"]');
    await expect(row.getByTestId("service-update")).toContainText("rolled back", { timeout: 120_000 });
    await expect(row.getByTestId("service-version")).toHaveText("version 2.0", { timeout: 60_000 });
    await expect.poll(() => env(), { timeout: 60_000 }).toContain("VERSION=2");
    // Swarm restarts the tasks of the version before (its restart delay, on a busy machine).
    await expect.poll(runningTasks, { timeout: 120_000 }).toBe(3).catch((e) => {
      console.log(lab("docker", "n1", "service", "ps", "roller_web", "--no-trunc"));
      throw e;
    });
    // The update workflow watched the rollout: it failed with Swarm's reason, and the panel
    // records the version that runs again.
    const update = page.locator('[data-testid="workflow"][data-kind="update"]').first();
    await expect(update).toHaveAttribute("data-status", "failed", { timeout: 60_000 });
    await expect(update).toContainText("Swarm rolled roller_web back to the version before");
    await expect(card).toContainText("Roller 2.0");

    await card.getByTestId("uninstall").click();
    await page.getByTestId("confirm").click();
    await expect(page.getByTestId("no-apps")).toBeVisible({ timeout: 90_000 });
    await page.getByTestId("delete-cluster").click();
    await page.getByTestId("confirm").click();
    await expect(page.getByTestId("cluster-gone")).toBeVisible({ timeout: 120_000 });
  });
});
