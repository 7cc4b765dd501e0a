import { expect, test } from "@playwright/test";
import { ADMIN_PASSWORD, AGENT_URL, api, lab, login } from "../tests/helpers";
import { collect, installLedger } from "../tests/ledger";
import { median, report, until } from "./support";

// Cluster volume benchmark (issue #13), run by `./dev bench volumes` on a fresh 3-node lab: a
// 3-manager cluster with its replicated volume and the ledger writer (an fsync'd append about
// 50 times a second, each acknowledged number reported to a collector on the host). Five times
// the writer's node is crashed: how long acknowledged writes stopped (from the crash to the
// first acknowledgement from another node) and how many acknowledged numbers are missing from
// the file; the node is revived and the copies healed before the next run. Then the throughput
// of small fsync'd appends on the volume against the node's own disk. Figures are BENCH lines.
const RUNS = Number(process.env.BENCH_RUNS ?? "5");
const VOLUMES = "/var/lib/flotilla/volumes";

function healed(reader: string): boolean {
  try {
    const entries = [...lab("gluster", reader, "volume", "heal", "flotilla", "info").matchAll(/Number of entries: (\d+)/g)];
    return entries.length === 3 && entries.every((m) => m[1] === "0");
  } catch {
    return false;
  }
}

test.describe.serial("cluster volume benchmark", () => {
  test.setTimeout(3_600_000);

  test("crash the writer's node, five times; then small fsync'd writes", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const key = await api(page.request, "create_key", { label: "bench", expires_in_hours: "1", max_uses: "3" });
    lab("agents", AGENT_URL, key.secret);
    lab("image");
    let nodes: { id: string; hostname: string; connectivity: string }[] = [];
    await until("three nodes online", 120_000, async () => {
      nodes = (await api(page.request, "list_nodes", {})).data.page.rows;
      return nodes.length === 3 && nodes.every((n) => n.connectivity === "Online");
    });
    // Storage facts come with the next facts reading.
    await until("the nodes' storage facts", 60_000, async () => {
      const c = (await api(page.request, "cluster_candidates", {})) as { storage: { glusterd: boolean } }[];
      return c.filter((n) => n.storage.glusterd).length === 3;
    });
    const clusterId = await api(page.request, "create_cluster", {
      draft: {
        definition: {
          name: "bench", volumes: true, volume_sync: "5", vip_enabled: false, vips: [],
          synctime: "0.1", pools: ["10.203.0.0/16"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
        },
        members: nodes.map((n) => ({ node_id: n.id, role: "manager", labels: "", interface: "eth0", vip: false })),
      },
    });
    await until("the cluster and its volume built", 240_000, async () => {
      const d = (await api(page.request, "get_cluster", { id: clusterId })).data;
      return d.summary.health === "Healthy";
    });
    const collector = await collect();
    const acks = collector.acks;
    try {
      await installLedger(page.request, clusterId, "Ledger", "ledger");
      await until("the writer writing", 120_000, () => acks.length > 100);
      const stalls: number[] = [];
      let lostTotal = 0;
      for (let run = 1; run <= RUNS; run++) {
        const victim = acks[acks.length - 1].node;
        const node = `n${victim.slice(-1)}`;
        const reader = ["n1", "n2", "n3"].find((n) => n !== node)!;
        const crashedAt = Date.now();
        lab("crash", node);
        await until("the writer writing elsewhere", 180_000, () => acks.some((a) => a.at > crashedAt && a.node !== victim));
        const resumed = acks.find((a) => a.at > crashedAt && a.node !== victim)!;
        const count = acks.length;
        await until("more writes", 60_000, () => acks.length > count + 100);
        const written = new Set(lab("exec", reader, "cat", `${VOLUMES}/ledger/data/seq`).trim().split("\n").map(Number));
        const lost = acks.filter((a) => !written.has(a.n)).length;
        lostTotal += lost;
        stalls.push(resumed.at - crashedAt);
        report(`volumes run ${run}: crashed ${victim}; writes again on ${resumed.node} after ${resumed.at - crashedAt} ms; acknowledged writes lost ${lost}/${acks.length}`);
        lab("revive", node);
        await until("the node's mount back", 180_000, () => {
          try {
            return lab("exec", node, "findmnt", "-n", "-o", "FSTYPE", "--mountpoint", VOLUMES) === "fuse.glusterfs";
          } catch {
            return false;
          }
        });
        await until("the copies healed", 300_000, () => healed(reader));
      }
      report(`volumes replicated: stall after a hard node kill p50 ${median(stalls)} ms, max ${Math.max(...stalls)} ms (${RUNS} runs); acknowledged writes lost ${lostTotal}`);
      expect(lostTotal).toBe(0);
    } finally {
      await collector.close();
    }

    // Small fsync'd appends from one container: 500 on the volume, 500 on the node's own disk
    // (a directory in the container's layer), each run timed here less a run that writes nothing (the
    // container's start and stop).
    const writes = 500;
    const timed = (file: string, n: number) => {
      const loop = `mkdir -p /local; i=0; while [ $i -lt ${n} ]; do i=$((i+1)); echo $i | dd of=${file} oflag=append conv=notrunc,fsync 2>/dev/null; done`;
      const start = Date.now();
      lab("docker", "n1", "run", "--rm", "-v", `${VOLUMES}:/v`, "flotilla-lab/busybox:1", "sh", "-c", loop);
      return Date.now() - start;
    };
    const idle = timed("/local/none", 0);
    const onVolume = timed("/v/bench-fsync", writes) - idle;
    const onDisk = timed("/local/bench-fsync", writes) - idle;
    report(`volumes replicated: ${writes} fsync'd appends in ${onVolume} ms (${Math.round((writes * 1000) / onVolume)}/s) on the volume, ${onDisk} ms (${Math.round((writes * 1000) / onDisk)}/s) on the node's own disk: ${(onVolume / onDisk).toFixed(1)}x slower`);
  });
});
