import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { ADMIN_PASSWORD, api, hydrated, lab, login } from "./helpers";
import { LOAD, startLoad, stopLoad, vipHolders } from "./load";

// Builds on 01 and 08 (nodes standalone, the lab's A/B installer). A 3-manager cluster runs a
// host-mode service behind a VIP; a firmware rollout upgrades every node while two load clients
// (the Rust one of bench/vipload: a new connection per request, the request written at once)
// send 50 requests/s each to the VIP — one of them retries a connection reset once.
const VIP = "10.77.0.102";
const DIR = mkdtempSync(path.join(os.tmpdir(), "flotilla-rollout-"));
const ARCH = os.arch() === "arm64" ? "aarch64" : "x86_64";

function slots(node: string): Record<string, string> {
  return Object.fromEntries(lab("firmware", node).split(" ").map((kv) => kv.split("=") as [string, string]));
}

const holders = () => vipHolders(VIP);

let clusterId = "";

test.describe.serial("firmware rollout of a cluster", () => {
  test.setTimeout(600_000);

  test("a 3-manager cluster serves a host-mode service behind its VIP", async ({ page }) => {
    expect(existsSync(LOAD), `${LOAD} (cargo build -p vipload)`).toBe(true);
    await login(page, "admin", ADMIN_PASSWORD);
    const nodes = (await api(page.request, "list_nodes", {})).data as { id: string; hostname: string }[];
    clusterId = await api(page.request, "create_cluster", {
      draft: {
        definition: {
          name: "rolling", volumes: false, vip_enabled: true,
          vips: [{ address: `${VIP}/24`, interface: "", peers: "", track_port: "8080" }],
          synctime: "0.1", pools: ["10.201.0.0/16"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
        },
        members: ["edge-1", "edge-2", "edge-3"].map((h) => ({
          node_id: nodes.find((n) => n.hostname === h)!.id, role: "manager", labels: "", interface: "eth0", vip: true,
        })),
      },
    });
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await expect(page.getByTestId("cluster-reason")).toContainText(`VIP ${VIP}/24 has no owner`, { timeout: 150_000 });
    lab("docker", "n1", "service", "create", "-q", "--name", "hello", "--mode", "global", "--endpoint-mode", "dnsrr",
      "--publish", "mode=host,target=8080,published=8080", "--env", "NODE={{.Node.Hostname}}",
      "--no-resolve-image", "flotilla-lab/busybox:1",
      "sh", "-c", "mkdir -p /w && echo $NODE > /w/index.html && exec httpd -f -p 8080 -h /w");
    await expect.poll(holders, { timeout: 90_000 }).toHaveLength(1);
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 60_000 });
    // The VIP answers with its holder's name.
    const probe = startLoad(DIR, "probe", VIP, []);
    await new Promise((r) => setTimeout(r, 2_000));
    const seen = await stopLoad(probe);
    expect(seen.failed).toBe(0);
    expect(Object.keys(seen.served_by)).toEqual([`edge-${holders()[0].slice(1)}`]);
  });

  test("the rollout upgrades every node, one at a time, with zero failed requests through the VIP", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const file = path.join(DIR, "lab-5.0.0.fw");
    lab("make-firmware", "lab-5.0.0", file);
    const up = await page.request.post(`/api/firmware/upload?version=lab-5.0.0&target=${ARCH}`, { data: readFileSync(file) });
    expect(up.status(), await up.text()).toBe(200);
    const holder = holders()[0];

    const plain = startLoad(DIR, "plain", VIP, []);
    const retrying = startLoad(DIR, "retrying", VIP, ["--retry-reset"]);
    await page.goto("/firmware");
    await hydrated(page);
    const form = page.getByTestId("rollout-form");
    await form.getByTestId("rollout-cluster").selectOption({ label: "rolling" });
    await form.getByTestId("rollout-artifact").selectOption({ label: `lab-5.0.0 (${ARCH})` });
    await form.getByTestId("rollout-gate").fill("120");
    await form.getByTestId("start-rollout").click();
    await form.getByTestId("rollout-link").click();
    await hydrated(page);
    // The node list says which node is being upgraded, while it is.
    await expect.poll(async () => ((await api(page.request, "list_nodes", {})).data as { firmware_upgrade: string | null }[])
      .some((n) => n.firmware_upgrade !== null), { timeout: 120_000, intervals: [500] }).toBe(true);
    const run = page.locator('[data-testid="workflow"][data-kind="firmware-rollout"]').first();
    await expect(run).toHaveAttribute("data-status", "done", { timeout: 480_000 });
    const a = await stopLoad(plain);
    const b = await stopLoad(retrying);
    console.log(`rollout under load: plain ${JSON.stringify(a)}; retrying ${JSON.stringify(b)}`);

    // Every node runs the new firmware, committed, read on the node.
    for (const n of ["n1", "n2", "n3"]) {
      expect(slots(n)).toMatchObject({ version: "lab-5.0.0", next: "-" });
      expect(slots(n).booted).toBe(slots(n).committed);
    }
    // The VIP holder went last; the timeline shows each step of each node.
    const steps = await run.getByTestId("timeline-step").allInnerTexts();
    expect(steps.length).toBe(3 * 10);
    expect(steps[20]).toContain(`Check that edge-${holder.slice(1)} can go down`);
    for (const s of ["Hand", "Fence", "Drain", "Download and install lab-5.0.0", "Reboot", "Wait until", "Set", "Commit", "Unfence"]) {
      expect(steps.some((t) => t.includes(s)), s).toBe(true);
    }
    expect(holders()).toHaveLength(1);
    // Zero failed requests through the VIP, with and without a retry of a reset.
    expect(a.total).toBeGreaterThan(1000);
    expect(a.failed, `failures: ${JSON.stringify(a.failures)}`).toBe(0);
    expect(b.failed, `failures: ${JSON.stringify(b.failures)}`).toBe(0);
    expect(Object.keys(a.served_by).length).toBeGreaterThan(1);
  });

  test("cleanup: the service and the cluster go", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    lab("docker", holders()[0] ?? "n1", "service", "rm", "hello");
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await page.getByTestId("delete-cluster").click();
    await page.getByTestId("confirm").click();
    await expect(page.getByTestId("cluster-gone")).toBeVisible({ timeout: 120_000 });
  });
});
