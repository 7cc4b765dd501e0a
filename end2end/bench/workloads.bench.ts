import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect, Page, test } from "@playwright/test";
import { ADMIN_PASSWORD, AGENT_URL, api, hydrated, lab, login, panelPid } from "../tests/helpers";

// Workload benchmarks (issue #9), run by `./dev bench workloads` against a fresh 3-node lab:
//   1. the time from "Deploy" (the install_app call) until every task of a 10-service app runs,
//      as the nodes see it (`docker service ls` on a manager) and as the panel shows it;
//   2. the panel's RSS with 200 services on the cluster;
//   3. the cluster page's server render time with 200 services (`ab`, 2 concurrent, loopback).
// Figures are printed (and gathered by the script into its summary); nothing here is a timed
// assertion.

const IMAGE = "flotilla-lab/busybox:1";
const DEPLOY_RUNS = Number(process.env.BENCH_DEPLOY_RUNS ?? "3");
const FLEET_APPS = 20; // × 10 services = 200

const TEN = "services:\n" + Array.from({ length: 10 }, (_, i) => `  s${String(i + 1).padStart(2, "0")}:
    image: ${IMAGE}
    command: [sleep, "86400"]
    deploy:
      replicas: 1
      endpoint_mode: dnsrr
`).join("");

function report(line: string) {
  console.log(`BENCH ${line}`);
}

/** Replicas column ("1/1") of each service of a stack, from a manager. */
function replicas(stack: string): string[] {
  return lab("docker", "n1", "service", "ls", "--filter", `label=com.docker.stack.namespace=${stack}`, "--format", "{{.Replicas}}")
    .split("\n")
    .filter((l) => l.length > 0);
}

function allRunning(stacks: string[], services: number): boolean {
  const r = stacks.flatMap(replicas);
  return r.length === services && r.every((x) => /^(\d+)\/\1$/.test(x.split(" ")[0]) && x !== "0/0");
}

async function panelRunning(page: Page, clusterId: string, names: string[]): Promise<boolean> {
  const apps = (await api(page.request, "installed_apps", { cluster_id: clusterId })).data as {
    name: string;
    services: { state: string }[];
  }[];
  return names.every((n) => {
    const a = apps.find((x) => x.name === n);
    return a !== undefined && a.services.length === 10 && a.services.every((s) => s.state === "running");
  });
}

async function until(what: string, limitMs: number, check: () => Promise<boolean> | boolean): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < limitMs) {
    if (await check()) return Date.now();
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not reached within ${limitMs / 1000} s`);
}

function rssMiB(): number {
  const status = readFileSync(`/proc/${panelPid()}/status`, "utf8");
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
  return Math.round(kib / 1024);
}

/** `ab` against the cluster page with the admin's session: p50/p90 ms and the page's size (which
 * varies a little between answers: nonces, times; `-l` accepts that). */
async function render(page: Page, clusterId: string): Promise<string> {
  const cookies = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
  const base = process.env.BASE_URL ?? "http://127.0.0.1:3000";
  const out = execFileSync("ab", ["-q", "-l", "-n", "200", "-c", "2", "-H", "Accept: text/html", "-C", cookies, `${base}/clusters/${clusterId}`], {
    encoding: "utf8",
  });
  const field = (re: RegExp) => re.exec(out)?.[1] ?? "?";
  const failed = field(/Failed requests:\s+(\d+)/);
  const non2xx = field(/Non-2xx responses:\s+(\d+)/);
  expect(failed, out).toBe("0");
  expect(non2xx, out).toBe("?"); // ab prints the line only when some answer was not 2xx
  const bytes = Math.round(Number(field(/HTML transferred:\s+(\d+)/)) / Number(field(/Complete requests:\s+(\d+)/)));
  return `p50 ${field(/\s50%\s+(\d+)/)} ms, p90 ${field(/\s90%\s+(\d+)/)} ms, ${bytes} bytes of HTML`;
}

test.describe.serial("workload benchmarks", () => {
  test.setTimeout(1_800_000);
  let clusterId = "";
  let versionId = "";

  test("setup: three enrolled nodes, a 3-manager cluster and a 10-service app", async ({ page }) => {
    expect(panelPid(), "FLOTILLA_E2E_PANEL_PID_FILE names the panel's process").toBeGreaterThan(0);
    await login(page, "admin", ADMIN_PASSWORD);
    const key = await api(page.request, "create_key", { label: "bench", expires_in_hours: "1", max_uses: "3" });
    lab("agents", AGENT_URL, key.secret);
    let nodes: { id: string; hostname: string; connectivity: string }[] = [];
    await until("three nodes online", 120_000, async () => {
      nodes = (await api(page.request, "list_nodes", {})).data.page.rows;
      return nodes.length === 3 && nodes.every((n) => n.connectivity === "Online");
    });
    const member = (n: { id: string }) => ({ node_id: n.id, role: "manager", labels: "", interface: "eth0", vip: false });
    clusterId = await api(page.request, "create_cluster", {
      draft: {
        definition: {
          name: "bench", volumes: false, vip_enabled: false, vips: [], synctime: "0.1",
          pools: ["10.200.0.0/16"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
        },
        members: nodes.map(member),
      },
    });
    const app = await api(page.request, "create_app", { draft: { name: "Ten", kind: "app", model_format: "", description: "" } });
    versionId = await api(page.request, "add_app_version", { app_id: app, draft: { version: "1.0", compose: TEN } });
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 180_000 });
    report(`idle: panel RSS ${rssMiB()} MiB; cluster page with 0 services: ${await render(page, clusterId)}`);
  });

  test("deploy time of a 10-service app", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    for (let run = 1; run <= DEPLOY_RUNS; run++) {
      const name = `ten-${run}`;
      const start = Date.now();
      await api(page.request, "install_app", {
        cluster_id: clusterId,
        draft: { version_id: versionId, name, secrets: [], services: [] },
      });
      const onNodes = await until(`${name} running on the nodes`, 300_000, () => allRunning([name], 10));
      const inPanel = await until(`${name} running in the panel`, 300_000, () => panelRunning(page, clusterId, [name]));
      report(`deploy run ${run}: all 10 services running after ${((onNodes - start) / 1000).toFixed(1)} s on the nodes, ${((inPanel - start) / 1000).toFixed(1)} s in the panel`);
      const installed = (await api(page.request, "installed_apps", { cluster_id: clusterId })).data as { id: string; name: string }[];
      await api(page.request, "uninstall_app", { id: installed.find((a) => a.name === name)!.id });
      await until(`${name} removed`, 300_000, () => replicas(name).length === 0);
      await until(`${name} gone from the panel`, 60_000, async () =>
        !((await api(page.request, "installed_apps", { cluster_id: clusterId })).data as { name: string }[]).some((a) => a.name === name));
    }
  });

  test("200 services: panel RSS and cluster page render time", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const names = Array.from({ length: FLEET_APPS }, (_, i) => `fleet-${String(i + 1).padStart(2, "0")}`);
    const start = Date.now();
    for (const name of names) {
      await api(page.request, "install_app", {
        cluster_id: clusterId,
        draft: { version_id: versionId, name, secrets: [], services: [] },
      });
    }
    const onNodes = await until("200 services running on the nodes", 1_200_000, () => allRunning(names, names.length * 10));
    const inPanel = await until("200 services running in the panel", 300_000, () => panelRunning(page, clusterId, names));
    report(`${names.length * 10} services (${names.length} apps) running after ${((onNodes - start) / 1000).toFixed(0)} s on the nodes, ${((inPanel - start) / 1000).toFixed(0)} s in the panel`);
    // Let a few observation rounds pass, then sample the RSS for 30 s.
    await new Promise((r) => setTimeout(r, 15_000));
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      samples.push(rssMiB());
      await new Promise((r) => setTimeout(r, 3_000));
    }
    report(`200 services: panel RSS ${Math.min(...samples)}–${Math.max(...samples)} MiB over 30 s`);
    report(`cluster page with 200 services: ${await render(page, clusterId)}`);
    report(`200 services: panel RSS after the renders ${rssMiB()} MiB`);
  });
});
