import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, Page, test } from "@playwright/test";
import { ADMIN_PASSWORD, AGENT_URL, api, lab, login, tempDir } from "../tests/helpers";
import { startLoad, stopLoad, vipHolders } from "../tests/load";
import { report, until } from "./support";

// Rollout benchmark (issue #10), run by `./dev bench rollout` on a fresh 3-node lab: five full
// firmware rollouts of a 3-manager cluster by the panel, then five runs of a naive sequence
// (per node: drain, reboot, set active, next node at once; no VIP hand-off, no waiting for the
// node to serve again) by this script, each while the load client sends 50 requests/s to the VIP
// on a new connection per request. Figures are printed as BENCH lines.
const VIP = "10.77.0.103";
const RUNS = Number(process.env.BENCH_RUNS ?? "5");
// Under the run's own directory (`./dev` removes it), so listing the benchmarks leaves nothing.
const DIR = tempDir("flotilla-rollout-bench-");
const ARCH = os.arch() === "arm64" ? "aarch64" : "x86_64";

interface Step {
  title: string;
  node: string | null;
  status: string;
  started_at_ms: number | null;
  finished_at_ms: number | null;
}

async function latestRollout(page: Page, clusterId: string): Promise<{ status: string; steps: Step[] } | undefined> {
  const detail = (await api(page.request, "get_cluster", { id: clusterId })).data;
  return (detail.activity as { kind: string; status: string; steps: Step[] }[]).find((w) => w.kind === "firmware-rollout");
}

test.describe.serial("rollout benchmark", () => {
  test.setTimeout(3_600_000);
  let clusterId = "";

  test("setup: three enrolled nodes, a 3-manager cluster with a VIP and a host-mode service", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const key = await api(page.request, "create_key", { label: "bench", expires_in_hours: "1", max_uses: "3" });
    lab("agents", AGENT_URL, key.secret);
    let nodes: { id: string; hostname: string; connectivity: string }[] = [];
    await until("three nodes online", 120_000, async () => {
      nodes = (await api(page.request, "list_nodes", {})).data.page.rows;
      return nodes.length === 3 && nodes.every((n) => n.connectivity === "Online");
    });
    clusterId = await api(page.request, "create_cluster", {
      draft: {
        definition: {
          name: "bench", volumes: false, vip_enabled: true,
          vips: [{ address: `${VIP}/24`, interface: "", peers: "", track_port: "8080" }],
          synctime: "0.1", pools: ["10.202.0.0/16"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
        },
        members: nodes.map((n) => ({ node_id: n.id, role: "manager", labels: "", interface: "eth0", vip: true })),
      },
    });
    await until("the cluster built", 180_000, async () => {
      const d = (await api(page.request, "get_cluster", { id: clusterId })).data;
      return d.summary.reason.includes("has no owner") || d.summary.health === "Healthy";
    });
    lab("docker", "n1", "service", "create", "-q", "--name", "hello", "--mode", "global", "--endpoint-mode", "dnsrr",
      "--publish", "mode=host,target=8080,published=8080", "--env", "NODE={{.Node.Hostname}}",
      "--no-resolve-image", "flotilla-lab/busybox:1",
      "sh", "-c", "mkdir -p /w && echo $NODE > /w/index.html && exec httpd -f -p 8080 -h /w");
    await until("one VIP holder", 120_000, () => vipHolders(VIP).length === 1);
  });

  test("five rollouts by the panel", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    for (let run = 1; run <= RUNS; run++) {
      const version = `bench-${run}.0`;
      const file = path.join(DIR, `${version}.fw`);
      lab("make-firmware", version, file);
      const up = await page.request.post(`/api/firmware/upload?version=${version}&target=${ARCH}`, { data: readFileSync(file) });
      expect(up.status(), await up.text()).toBe(200);
      const artifact = (await up.json()).id as string;
      const load = startLoad(DIR, `rollout-${run}`, VIP, []);
      const started = Date.now();
      await api(page.request, "rollout_firmware", { draft: { cluster_id: clusterId, artifact_id: artifact, gate_secs: "180" } });
      let done: { status: string; steps: Step[] } | undefined;
      await until(`rollout ${run}`, 900_000, async () => {
        done = await latestRollout(page, clusterId);
        return done !== undefined && ["done", "failed", "paused", "aborted"].includes(done.status);
      });
      const seconds = (Date.now() - started) / 1000;
      const result = await stopLoad(load);
      const perNode: Record<string, number> = {};
      for (const s of done!.steps) {
        if (!s.node || s.started_at_ms === null || s.finished_at_ms === null) continue;
        perNode[s.node] = (perNode[s.node] ?? 0) + (s.finished_at_ms - s.started_at_ms) / 1000;
      }
      const nodes = Object.entries(perNode).map(([n, t]) => `${n} ${t.toFixed(1)} s`).join(", ");
      report(`rollout ${run} (${done!.status}): ${result.failed} failed of ${result.total} (${JSON.stringify(result.failures)}), cluster ${seconds.toFixed(0)} s; per node: ${nodes}; VIP moves ${result.moves}`);
    }
  });

  test("five runs of the naive sequence by this script", async () => {
    for (let run = 1; run <= RUNS; run++) {
      const load = startLoad(DIR, `naive-${run}`, VIP, []);
      const started = Date.now();
      const perNode: string[] = [];
      for (const n of ["n1", "n2", "n3"]) {
        const t = Date.now();
        const manager = ["n1", "n2", "n3"].find((m) => m !== n)!;
        const host = `edge-${n.slice(1)}`;
        const update = (availability: string) => {
          for (let i = 0; i < 60; i++) {
            try {
              lab("docker", manager, "node", "update", "--availability", availability, host);
              return;
            } catch {
              // No leader while the swarm elects one: try again.
              execSleep(1);
            }
          }
        };
        update("drain");
        lab("reboot", n);
        update("active");
        perNode.push(`${host} ${((Date.now() - t) / 1000).toFixed(1)} s`);
      }
      const seconds = (Date.now() - started) / 1000;
      // Let the last node come back before the next run (and the count).
      await until("one VIP holder", 180_000, () => vipHolders(VIP).length === 1);
      const result = await stopLoad(load);
      report(`naive ${run}: ${result.failed} failed of ${result.total} (${JSON.stringify(result.failures)}), cluster ${seconds.toFixed(0)} s; per node: ${perNode.join(", ")}; VIP moves ${result.moves}`);
      // The swarm settles (a leader, every node active) before the next run.
      await until("all nodes ready", 180_000, () => {
        try {
          return lab("docker", "n1", "node", "ls", "--format", "{{.Status}} {{.Availability}}").split("\n").every((l) => l === "Ready Active");
        } catch {
          return false;
        }
      });
    }
  });
});

function execSleep(secs: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, secs * 1000);
}
