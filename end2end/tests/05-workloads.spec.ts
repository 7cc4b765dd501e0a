import { expect, Page, test } from "@playwright/test";
import { ADMIN_PASSWORD, api, call, confirmDialog, hydrated, lab, login, logout, removeLeftoverClusters } from "./helpers";

// Builds on 01 (three lab nodes online). The lab has no IPVS, so the services use DNS
// round-robin and host-mode publishing.
const IMAGE = "flotilla-lab/busybox:1";

const DEMO = `services:
  web:
    image: ${IMAGE}
    command: [sh, -c, "echo serving on 8080; /bin/busybox httpd -f -p 8080"]
    ports:
      - target: 8080
        published: 8080
        mode: host
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
  agent:
    image: ${IMAGE}
    command: [sleep, "3600"]
    deploy:
      mode: global
      endpoint_mode: dnsrr
  once:
    image: ${IMAGE}
    command: ["true"]
    deploy:
      mode: replicated-job
      replicas: 3
      endpoint_mode: dnsrr
  everywhere:
    image: ${IMAGE}
    command: ["true"]
    deploy:
      mode: global-job
      endpoint_mode: dnsrr
`;

const PINNED = `services:
  probe:
    image: ${IMAGE}
    command: [sleep, "3600"]
    deploy:
      replicas: 1
      endpoint_mode: dnsrr
      placement:
        max_replicas_per_node: 1
`;



/** The nodes (hostnames) that run a service's tasks that should be running, from a manager. */
function tasksOn(service: string, state = "running"): string[] {
  return lab("docker", "n1", "service", "ps", service, "--filter", `desired-state=${state}`, "--format", "{{.Node}} {{.CurrentState}}")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => l.split(" ")[0])
    .sort();
}

function completedOn(service: string): string[] {
  return lab("docker", "n1", "service", "ps", service, "--format", "{{.Node}} {{.CurrentState}}")
    .split("\n")
    .filter((l) => l.includes(" Complete"))
    .map((l) => l.split(" ")[0])
    .sort();
}

function row(page: Page, app: string, service: string) {
  return page.locator(`[data-testid="app-card"][data-name="${app}"] [data-testid="service-row"][data-service="${service}"]`);
}

let clusterId = "";
const versions: Record<string, string> = {};

test.describe.serial("workloads", () => {
  test.setTimeout(240_000);

  test("a cluster and two library apps to install", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await removeLeftoverClusters(page.request);
    const nodes = (await api(page.request, "list_nodes", {})).data.page.rows as { id: string; hostname: string }[];
    const member = (host: string, zone: string) => ({
      node_id: nodes.find((n) => n.hostname === host)!.id, role: "manager", labels: `zone=${zone}`, interface: "eth0", vip: false,
    });
    clusterId = await api(page.request, "create_cluster", {
      draft: {
        definition: {
          name: "apps", volumes: false, vip_enabled: false, vips: [], synctime: "0.1",
          pools: ["10.200.0.0/16"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
        },
        members: [member("edge-1", "a"), member("edge-2", "b"), member("edge-3", "c")],
      },
    });
    await api(page.request, "create_user", { username: "wanda", password: "viewer-password-5", role: "viewer" });
    for (const [name, compose] of [["Lab demo", DEMO], ["Pinned probe", PINNED]]) {
      const app = await api(page.request, "create_app", { draft: { name, kind: "app", model_format: "", description: "" } });
      versions[name] = await api(page.request, "add_app_version", { app_id: app, draft: { version: "1.0", compose } });
    }
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 150_000 });
    await expect(page.getByTestId("no-apps")).toBeVisible();
  });

  test("the four modes deployed through the wizard reach their state, as docker service ps confirms", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await page.getByTestId("install-app").click();
    await hydrated(page);
    await page.getByLabel("App").selectOption({ label: "Lab demo (app)" });
    await expect(page.getByTestId("version-services")).toContainText("web (replicated), agent (global), once (replicated-job), everywhere (global-job)");
    await expect(page.getByLabel("Name on the cluster")).toHaveValue("lab-demo");
    await page.getByLabel("Name on the cluster").fill("Demo!");
    await page.getByTestId("next").click();
    await expect(page.getByTestId("error-name")).toContainText("lowercase letters");
    await page.getByLabel("Name on the cluster").fill("demo");
    await page.getByTestId("next").click();
    await expect(page.getByTestId("wizard-step")).toHaveAttribute("data-step", "2");
    await expect(page.getByText("This app declares no secrets of its own.")).toBeVisible();
    await page.getByTestId("next").click();
    await expect(page.getByTestId("ports-web")).toContainText("8080/tcp");
    await page.getByTestId("next").click();
    // Mode and replicas: a bad count is refused inline.
    const web = page.getByTestId("mode-web");
    await web.getByLabel("Replicas").fill("0");
    await page.getByTestId("next").click();
    await expect(page.getByTestId("error-replicas")).toContainText("from 1 to 1000");
    await web.getByLabel("Replicas").fill("2");
    await page.getByTestId("next").click();
    // Placement: an invalid expression is named inline; the builder writes valid ones.
    const placement = page.getByTestId("placement-agent");
    await placement.getByLabel("Constraints").fill("node.labels.zone = a");
    await expect(page.getByTestId("error-constraints")).toContainText("needs == or !=");
    await placement.getByLabel("Constraints").fill("");
    await expect(placement.getByTestId("eligible")).toHaveText("Eligible now: edge-1, edge-2, edge-3");
    await page.getByTestId("next").click();
    const review = page.getByTestId("review-spec");
    await expect(review).toContainText('"name": "demo_web"');
    await expect(review).toContainText('"mode": "global-job"');
    await page.getByTestId("deploy").click();

    await expect(page.getByTestId("cluster-name")).toHaveText("apps");
    const card = page.locator('[data-testid="app-card"][data-name="demo"]');
    await expect(card.getByTestId("app-phase")).toHaveAttribute("data-phase", "deployed", { timeout: 60_000 });
    await expect(row(page, "demo", "web")).toHaveAttribute("data-state", "running", { timeout: 90_000 });
    await expect(row(page, "demo", "web").getByTestId("service-progress")).toHaveText("2/2 running");
    await expect(row(page, "demo", "agent")).toHaveAttribute("data-state", "running", { timeout: 60_000 });
    await expect(row(page, "demo", "agent").getByTestId("service-progress")).toHaveText("3/3 running");
    await expect(row(page, "demo", "once")).toHaveAttribute("data-state", "completed", { timeout: 60_000 });
    await expect(row(page, "demo", "once").getByTestId("service-progress")).toHaveText("3/3 completed");
    await expect(row(page, "demo", "everywhere")).toHaveAttribute("data-state", "completed", { timeout: 60_000 });
    await expect(row(page, "demo", "everywhere").getByTestId("service-progress")).toHaveText("3/3 completed");

    // On the nodes.
    expect(tasksOn("demo_web")).toHaveLength(2);
    expect(tasksOn("demo_agent")).toEqual(["edge-1", "edge-2", "edge-3"]);
    expect(completedOn("demo_once")).toHaveLength(3);
    expect(completedOn("demo_everywhere")).toEqual(["edge-1", "edge-2", "edge-3"]);
    const labels = JSON.parse(lab("docker", "n1", "service", "inspect", "demo_web", "--format", "{{json .Spec.Labels}}"));
    expect(labels["com.docker.stack.namespace"]).toBe("demo");
    // The activity shows the install with its timeline.
    const install = page.locator('[data-testid="workflow"][data-kind="install"]');
    await expect(install).toHaveAttribute("data-status", "done");
    await expect(install.getByTestId("timeline-step").first()).toContainText("Create networks, secrets and configs");

    // Logs of a service, read through a manager.
    await row(page, "demo", "web").getByTestId("service-logs").click();
    await expect(page.getByTestId("logs")).toContainText("serving on 8080");
  });

  test("a label constraint pins a service; an impossible one shows Swarm's reason until a label fixes it", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const install = async (name: string, constraints: string) =>
      api(page.request, "install_app", {
        cluster_id: clusterId,
        draft: {
          version_id: versions["Pinned probe"], name, secrets: [],
          services: [{ name: "probe", mode: "replicated", replicas: "1", constraints, spread: "", ports: [] }],
        },
      });
    await install("pinned", "node.labels.zone == b");
    await install("stuck", "node.labels.gpu == yes");
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await expect(row(page, "pinned", "probe")).toHaveAttribute("data-state", "running", { timeout: 90_000 });
    await expect(row(page, "pinned", "probe").getByTestId("service-nodes")).toContainText("edge-2");
    expect(tasksOn("pinned_probe")).toEqual(["edge-2"]);

    const stuck = row(page, "stuck", "probe");
    await expect(stuck).toHaveAttribute("data-state", "failed", { timeout: 60_000 });
    await expect(stuck.getByTestId("service-errors")).toContainText("no suitable node");
    // Label a node: Swarm schedules the waiting task there, no redeploy needed.
    lab("docker", "n1", "node", "update", "--label-add", "gpu=yes", "edge-3");
    await expect(stuck).toHaveAttribute("data-state", "running", { timeout: 90_000 });
    expect(tasksOn("stuck_probe")).toEqual(["edge-3"]);
  });

  test("bad input is refused with a clear message and nothing half-applied", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const refused = async (draft: object, text: string) => {
      const answer = await call(page.request, "install_app", { cluster_id: clusterId, draft });
      expect(answer.status()).toBe(422);
      expect(await answer.text()).toContain(text);
    };
    const base = { version_id: versions["Lab demo"], secrets: [] };
    // Port 8080 is published by demo_web already.
    await refused({ ...base, name: "demo2", services: [] }, "Port 8080/tcp is already published on this cluster by demo_web");
    await refused({ ...base, name: "demo", services: [] }, "demo is installed on this cluster already");
    // More replicas than max_replicas_per_node allows on three nodes.
    await refused({
      version_id: versions["Pinned probe"], name: "many", secrets: [],
      services: [{ name: "probe", mode: "replicated", replicas: "4", constraints: "", spread: "", ports: [] }],
    }, "4 replicas do not fit: max_replicas_per_node 1 on 3 node(s) allows 3");
    await refused({
      version_id: versions["Pinned probe"], name: "bad", secrets: [],
      services: [{ name: "probe", mode: "replicated", replicas: "1", constraints: "node.zone == a", spread: "", ports: [] }],
    }, "is not something Swarm can place by");
    const apps = (await api(page.request, "installed_apps", { cluster_id: clusterId })).data as { name: string }[];
    expect(apps.map((a) => a.name).sort()).toEqual(["demo", "pinned", "stuck"]);
    expect(lab("docker", "n1", "service", "ls", "--format", "{{.Name}}").split("\n").sort()).toEqual(
      ["demo_agent", "demo_everywhere", "demo_once", "demo_web", "pinned_probe", "stuck_probe"],
    );
  });

  test("a Viewer sees no write buttons and every workload write is refused", async ({ page }) => {
    await login(page, "wanda", "viewer-password-5");
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await expect(page.locator('[data-testid="app-card"][data-name="demo"]')).toBeVisible();
    await expect(page.getByTestId("install-app")).toHaveCount(0);
    await expect(page.getByTestId("uninstall")).toHaveCount(0);
    await expect(page.getByTestId("service-logs")).toHaveCount(0);
    const apps = (await api(page.request, "installed_apps", { cluster_id: clusterId })).data as { id: string }[];
    for (const [name, data] of [
      ["install_app", { cluster_id: clusterId, draft: { version_id: versions["Pinned probe"], name: "x", secrets: [], services: [] } }],
      ["uninstall_app", { id: apps[0].id }],
      ["service_logs", { id: apps[0].id, service: "web" }],
    ] as const) {
      const answer = await call(page.request, name, data);
      expect(answer.status(), name).toBe(403);
    }
    await logout(page);
  });

  test("uninstall removes the services and what the app declared, nothing else", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    for (const name of ["demo", "pinned", "stuck"]) {
      await page.locator(`[data-testid="app-card"][data-name="${name}"]`).getByTestId("uninstall").click();
      await confirmDialog(page);
      await expect(page.locator(`[data-testid="app-card"][data-name="${name}"]`)).toHaveCount(0, { timeout: 90_000 });
    }
    await expect(page.getByTestId("no-apps")).toBeVisible();
    expect(lab("docker", "n1", "service", "ls", "--format", "{{.Name}}")).toBe("");
    // Nodes drop their local copy of a removed overlay network shortly after Swarm removed it.
    const networks = () => lab("docker", "n1", "network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}}").split("\n");
    await expect.poll(() => networks().filter((n) => /^(demo|pinned|stuck)_/.test(n)), { timeout: 30_000 }).toEqual([]);
    expect(networks()).toContain("ingress");
    expect(lab("docker", "n1", "network", "ls", "--filter", "label=com.docker.stack.namespace", "--format", "{{.Name}}")).toBe("");

    await page.getByTestId("delete-cluster").click();
    await page.getByTestId("confirm").click();
    await expect(page.getByTestId("cluster-gone")).toBeVisible({ timeout: 120_000 });
  });
});
