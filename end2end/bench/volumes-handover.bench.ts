import { expect, test } from "@playwright/test";
import { ADMIN_PASSWORD, AGENT_URL, api, lab, login } from "../tests/helpers";
import { collect, installLedger } from "../tests/ledger";
import { median, report, until } from "./support";

// The async volume's planned hand-over (issue #13), run by `./dev bench volumes-handover` on a
// fresh 3-node lab: one two-node cluster (edge-1 manager, edge-2 worker) with an async volume
// synced every BENCH_SYNC seconds (default 2) and the ledger writer (an fsync'd append about 50
// times a second, each acknowledged number reported to a collector on the host). Per run the
// operator drains the node of the primary: the panel drains it until it runs no task, the agent
// sends a last snapshot, the standby takes over with it, and Swarm starts the writer there. The
// old primary is set active again (it is the standby now), so that the next run hands the volume
// back. Figures: the writer's pause (its last acknowledged write on the old primary to its first
// on the new one), the time from the drain to that first write, and the acknowledged writes
// missing from the file at the end (a hand-over promises none).
const RUNS = Number(process.env.BENCH_RUNS ?? "5");
const SYNC = process.env.BENCH_SYNC ?? "2";
const VOLUMES = "/var/lib/flotilla/volumes";

interface Flow { kind: string; status: string }

test.describe.serial("async volume hand-over benchmark", () => {
  test.setTimeout(3_600_000);

  test("drain the primary of a pair, five times", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const key = await api(page.request, "create_key", { label: "bench", expires_in_hours: "1", max_uses: "3" });
    lab("agents", AGENT_URL, key.secret);
    lab("image");
    let nodes: { id: string; hostname: string; connectivity: string }[] = [];
    await until("three nodes online", 120_000, async () => {
      nodes = (await api(page.request, "list_nodes", {})).data.page.rows;
      return nodes.length === 3 && nodes.every((n) => n.connectivity === "Online");
    });
    await until("the nodes' storage facts", 60_000, async () => {
      const c = (await api(page.request, "cluster_candidates", {})) as { storage: { btrfs_tools: boolean } }[];
      return c.filter((n) => n.storage.btrfs_tools).length === 3;
    });
    const id = (host: string) => nodes.find((n) => n.hostname === host)!.id;
    const clusterId = await api(page.request, "create_cluster", {
      draft: {
        definition: {
          name: "pair", volumes: true, volume_sync: SYNC, vip_enabled: false, vips: [],
          synctime: "0.1", pools: ["10.205.0.0/16"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
        },
        members: [
          { node_id: id("edge-1"), role: "manager", labels: "", interface: "eth0", vip: false },
          { node_id: id("edge-2"), role: "worker", labels: "", interface: "eth0", vip: false },
        ],
      },
    });
    const healthy = async () => (await api(page.request, "get_cluster", { id: clusterId })).data.summary.health === "Healthy";
    await until("the pair and its volume built", 240_000, healthy);
    const collector = await collect();
    const acks = collector.acks;
    const pauses: number[] = [];
    const resumes: number[] = [];
    try {
      await installLedger(page.request, clusterId, "Ledger hand-over", "ledger");
      await until("the writer writing", 120_000, () => acks.length > 300);
      for (let run = 1; run <= RUNS; run++) {
        const from = acks[acks.length - 1].node;
        const to = from === "edge-1" ? "edge-2" : "edge-1";
        const drainedAt = Date.now();
        await api(page.request, "cluster_node_action", { id: clusterId, node_id: id(from), action: { action: "availability", availability: "drain" } });
        await until(`the writer writing on ${to}`, 180_000, () => acks.some((a) => a.at > drainedAt && a.node === to));
        const resumed = acks.find((a) => a.at > drainedAt && a.node === to)!;
        const last = acks.filter((a) => a.node === from).pop()!;
        pauses.push(resumed.at - last.at);
        resumes.push(resumed.at - drainedAt);
        report(`volumes hand-over run ${run}: ${from} → ${to}: the writer paused ${resumed.at - last.at} ms; it wrote on ${to} ${resumed.at - drainedAt} ms after the drain`);
        await until("the hand-over finished", 120_000, async () =>
          ((await api(page.request, "get_cluster", { id: clusterId })).data.activity as Flow[])
            .find((w) => w.kind === "hand-over-volume")?.status === "done");
        await api(page.request, "cluster_node_action", { id: clusterId, node_id: id(from), action: { action: "availability", availability: "active" } });
        await until("the pair healthy again", 120_000, healthy);
        const count = acks.length;
        await until("the writer writing on", 60_000, () => acks.length > count + 100);
      }
      const primary = acks[acks.length - 1].node === "edge-1" ? "n1" : "n2";
      const written = new Set(lab("exec", primary, "cat", `${VOLUMES}/ledger/data/seq`).trim().split("\n").map(Number));
      const lost = acks.filter((a) => !written.has(a.n)).length;
      report(`volumes hand-over (sync every ${SYNC} s): writer paused p50 ${median(pauses)} ms, max ${Math.max(...pauses)} ms; wrote again p50 ${median(resumes)} ms, max ${Math.max(...resumes)} ms after the drain (${RUNS} runs); acknowledged writes lost ${lost} of ${acks.length}`);
      expect(lost).toBe(0);
    } finally {
      await collector.close();
    }
  });
});
