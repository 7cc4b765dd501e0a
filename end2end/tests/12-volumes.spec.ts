import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, Page, test } from "@playwright/test";
import { ADMIN_PASSWORD, AGENT_URL, api, call, confirmDialog, hydrated, lab, login, removeLeftoverClusters, tempDir } from "./helpers";
import { collect, installLedger } from "./ledger";

// Builds on 01 (three lab nodes online, standalone). Cluster volumes (issue #13): every lab node
// has its own disks and glusterd in its own mount namespace (checked on the nodes), its agent
// reports what it offers, the node page shows what each mode lacks, and the wizard and the edit
// form choose the mode from the node count and refuse a node that lacks what it needs. A cluster
// of three gets a replicated GlusterFS volume, mounted on every node (and again when a mount
// goes), taken down when volumes are turned off and when the cluster is deleted. Writers on it
// survive a drain, a crash, a partition (fencing) and a rolling firmware upgrade (the lab's A/B
// installer of 08) without losing an acknowledged write, and a node that holds a copy leaves
// once its copy moved to a fourth node; on a pair, the async volume's standby takes over from a
// crashed primary, and a drained primary hands over with a final snapshot.
const NODES = ["n1", "n2", "n3"];
const ARCH = os.arch() === "arm64" ? "aarch64" : "x86_64";
const FIRMWARE_DIR = tempDir("flotilla-volumes-");

interface Flow {
  kind: string; status: string;
  steps: { title: string; status: string; started_at_ms: number | null; finished_at_ms: number | null }[];
}

/** The file system mounted at `path` inside a lab node ("" when nothing is mounted there). */
function fsInside(node: string, path: string): string {
  try {
    return lab("exec", node, "findmnt", "-n", "-o", "FSTYPE", "--mountpoint", path);
  } catch {
    return "";
  }
}

const VOLUMES = "/var/lib/flotilla/volumes";

/** Nothing of the cluster volume is left on the nodes: no mount, volume, peer or brick. */
function volumeGone(nodes = NODES) {
  for (const n of nodes) {
    expect(fsInside(n, VOLUMES), `${n}: mount`).toBe("");
    expect(() => lab("exec", n, "test", "-e", "/var/lib/flotilla/bricks/flotilla"), `${n}: brick`).toThrow();
    expect(lab("gluster", n, "pool", "list").trim().split("\n").length, `${n}: pool`).toBe(2);
  }
  expect(() => lab("gluster", "n1", "volume", "info", "flotilla")).toThrow(/does not exist/);
}

/** The replicated volume as GlusterFS describes it, and mounted on every node. */
function volumeUp() {
  const info = lab("gluster", "n1", "volume", "info", "flotilla");
  expect(info).toContain("Type: Replicate");
  expect(info).toContain("Number of Bricks: 1 x 3 = 3");
  expect(info).toContain("Status: Started");
  // The tuned timeouts: a node lost without a word stalls the volume seconds, not 42 s.
  expect(info).toContain("network.ping-timeout: 5");
  expect(info).toContain("client.tcp-user-timeout: 5");
  expect(info).toContain("server.keepalive-count: 3");
  expect(info).toContain("cluster.heal-timeout: 10");
  for (const n of NODES) expect(fsInside(n, VOLUMES), `${n}: mount`).toBe("fuse.glusterfs");
}

// Appends the next number to /data/seq, fsync'd, about 50 times a second, continuing from the
// file's last line (so a task that takes over carries on the sequence).
const KEEPER = `services:
  writer:
    image: flotilla-lab/busybox:1
    command: [sh, -c, "i=$(tail -n1 /data/seq 2>/dev/null || echo 0); while true; do i=$((i+1)); echo $i | dd of=/data/seq oflag=append conv=notrunc,fsync 2>/dev/null || exit 1; sleep 0.02; done"]
    volumes: ["data:/data"]
volumes:
  data:
    driver: flotilla-cluster
`;

// Appends a timestamp to /data/beat five times a second and carries on when an append fails
// (as many programs do on an I/O error: only a restart brings them back to a working mount).
const PATIENT = `services:
  writer:
    image: flotilla-lab/busybox:1
    command: [sh, -c, "while true; do date +%s >> /data/beat; sleep 0.2; done"]
    volumes: ["data:/data"]
volumes:
  data:
    driver: flotilla-cluster
`;

const SNAPSHOTS = "/var/lib/flotilla/snapshots";

/** The snapshots in a directory of a node's snapshots disk, oldest first. */
function snapshotsIn(node: string, dir: string): string[] {
  try {
    return lab("exec", node, "ls", `${SNAPSHOTS}/${dir}`).split("\n").filter((n) => /^e\d+-\d+$/.test(n))
      .sort((a, b) => Number(a.split("-")[1]) - Number(b.split("-")[1]));
  } catch {
    return [];
  }
}

/** The Swarm card's volume line of a replicated volume mounted everywhere whose copies are whole. */
const WHOLE = "replicated: mounted and answering on 3 of 3 nodes; 3 of 3 copies answer";

/** Waits until the cluster is Healthy again (every node back, in the swarm, its volume mounted). */
async function healthy(page: Page, clusterId: string) {
  // (With the reason: a failure says what kept it Degraded.)
  await expect.poll(async () => {
    const s = (await api(page.request, "get_cluster", { id: clusterId })).data.summary;
    return `${s.health}: ${s.reason}`;
  }, { timeout: 180_000, intervals: [2_000] }).toMatch(/^Healthy/);
}

/**
 * Uninstalls an app and waits until its service is gone from the swarm, as the first manager
 * that answers says (right after a partition heals, a manager may answer "no leader" or time out
 * for a minute or more while the others have one). When it is not gone, the failure says what the
 * cluster's newest workflows did (their steps and errors) and what each manager answers: where
 * the removal stopped shows at the end of a truncated CI log.
 */
async function uninstalled(page: Page, clusterId: string, appId: string, service: string) {
  await api(page.request, "uninstall_app", { id: appId });
  const answers = () => NODES.map((n) => {
    try {
      return `${n}: ${lab("docker", n, "service", "ls", "--format", "{{.Name}}").split("\n").includes(service) ? "listed" : "gone"}`;
    } catch (why) {
      return `${n}: no answer (${String(why).split("\n").filter((l) => l.includes("Error response")).join(" ") || why})`;
    }
  });
  try {
    await expect.poll(() => answers().find((a) => !a.includes("no answer")) ?? "no manager answers",
      { timeout: 180_000, intervals: [1_000] }).toMatch(/: gone$/);
  } catch (e) {
    type Flow = { kind: string; status: string; error: string | null; steps: { title: string; status: string; attempts: number; error: string | null }[] };
    const detail = (await api(page.request, "get_cluster", { id: clusterId })).data as { activity: Flow[] };
    const lines = detail.activity.slice(0, 3).flatMap((w) => [
      `workflow ${w.kind}: ${w.status}${w.error ? ` (${w.error})` : ""}`,
      ...w.steps.map((s) => `  ${s.status} ×${s.attempts} ${s.title}${s.error ? `: ${s.error}` : ""}`),
    ]);
    throw new Error(`${service} is not gone 180 s after the uninstall:\n${lines.join("\n")}\n${answers().join("\n")}\n${e}`);
  }
}

/** The numbers in the keeper's file, read on a node (none before it exists). */
function sequence(node: string): number[] {
  try {
    return lab("exec", node, "cat", `${VOLUMES}/keeper/data/seq`).trim().split("\n").map(Number);
  } catch {
    return [];
  }
}

/** The nodes (hostnames) where a task of `service` runs now (none before it exists). */
function runningOn(service: string): string[] {
  try {
    return lab("docker", "n1", "service", "ps", service, "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}")
      .split("\n").filter((l) => l.includes("Running")).map((l) => l.split(" ")[0]);
  } catch {
    return [];
  }
}

async function refreshFacts(page: Page, host: string) {
  await page.goto("/nodes");
  await hydrated(page);
  await page.getByRole("link", { name: host, exact: true }).click();
  await expect(page.getByTestId("node-name")).toHaveText(host);
  await hydrated(page);
  await page.getByRole("button", { name: "Refresh facts" }).click();
}

test.describe.serial("cluster volumes", () => {
  test.setTimeout(240_000);

  test("every node has its own disks and glusterd, each in its own mount namespace", async () => {
    const uuids = new Set<string>();
    for (const n of NODES) {
      expect(fsInside(n, "/var/lib/flotilla/bricks")).toBe("xfs");
      expect(fsInside(n, "/var/lib/flotilla/snapshots")).toBe("btrfs");
      // Its own glusterd: a pool of one (itself), with an identity of its own.
      expect(lab("gluster", n, "pool", "list")).toMatch(/localhost\s+Connected/);
      const info = lab("exec", n, "cat", "/var/lib/glusterd/glusterd.info");
      uuids.add(info.match(/UUID=(\S+)/)![1]);
    }
    expect(uuids.size).toBe(3);
    // The host sees none of the nodes' disks.
    expect(lab("exec", "n1", "findmnt", "-n", "-o", "SOURCE", "--mountpoint", "/var/lib/flotilla/bricks")).toMatch(/loop/);
    expect(() => execFileSync("findmnt", ["--mountpoint", "/var/lib/flotilla/bricks"], { stdio: "ignore" })).toThrow();
  });

  test("a node's page shows what it offers and what each mode lacks", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await removeLeftoverClusters(page.request);
    await refreshFacts(page, "edge-1");
    await expect(page.getByTestId("fact-glusterfs")).toHaveText(/^\d+\.\d+, glusterd answers$/, { timeout: 20_000 });
    await expect(page.getByTestId("fact-fuse")).toHaveText("yes");
    await expect(page.getByTestId("fact-bricks-disk")).toContainText("xfs at /var/lib/flotilla/bricks");
    await expect(page.getByTestId("fact-snapshots-disk")).toContainText("btrfs at /var/lib/flotilla/snapshots");
    await expect(page.getByTestId("fact-replicated-mode")).toHaveText("ready");
    await expect(page.getByTestId("fact-async-standby")).toHaveText("ready");

    lab("glusterd", "n3", "stop");
    await refreshFacts(page, "edge-3");
    await expect(page.getByTestId("fact-glusterfs")).toContainText("glusterd does not answer", { timeout: 20_000 });
    await expect(page.getByTestId("fact-replicated-mode")).toHaveText("glusterd does not answer");
    await expect(page.getByTestId("fact-async-standby")).toHaveText("ready");
  });

  test("the wizard takes the mode from the nodes and refuses one that lacks what it needs", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/clusters/new");
    await hydrated(page);
    await page.getByLabel("Cluster name").fill("vol-2");
    await page.locator("#field-volumes").check();
    await page.getByTestId("next").click();

    const mode = page.getByTestId("volume-mode");
    await expect(page.getByTestId("volumes-mode")).toContainText("Choose at least two nodes");
    for (const host of ["edge-1", "edge-2", "edge-3"]) await page.getByLabel(`Include ${host}`).check();
    await expect(mode).toHaveText("Replicated");
    await expect(page.getByLabel("Volume sync interval (seconds)")).toHaveCount(0);
    await page.getByTestId("create-cluster").click();
    const refusal = page.locator('[data-testid="candidate"][data-hostname="edge-3"]').getByTestId("error-volumes-node");
    await expect(refusal).toHaveText("edge-3 cannot hold replicated volumes: glusterd does not answer");
    await expect(page.getByTestId("error-volumes-node")).toHaveCount(1);

    // Two nodes: async standby, with its sync interval.
    await page.getByLabel("Include edge-3").uncheck();
    await expect(mode).toHaveText("Async standby");
    await expect(page.getByTestId("error-volumes-node")).toHaveCount(0);
    await page.getByLabel("Volume sync interval (seconds)").fill("0");
    await page.getByTestId("create-cluster").click();
    await expect(page.getByTestId("error-volume_sync")).toContainText("from 1 to 3600");
    await page.getByLabel("Volume sync interval (seconds)").fill("10");
    await page.getByTestId("create-cluster").click();
    await expect(page.getByTestId("cluster-name")).toHaveText("vol-2");
    await hydrated(page);
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 150_000 });
    await expect(page.getByTestId("swarm-volumes")).toContainText(/async standby.*every 10 s/);
  });

  test("volumes are turned off and on again in the edit form", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/clusters");
    await hydrated(page);
    await page.getByRole("link", { name: "vol-2", exact: true }).click();
    await expect(page.getByTestId("cluster-name")).toHaveText("vol-2");
    await hydrated(page);
    await page.getByTestId("edit-cluster").click();
    const form = page.getByTestId("edit-cluster-form");
    await expect(form.locator("#field-edit-volumes")).toBeChecked();
    await expect(form.getByLabel("Volume sync interval (seconds)")).toHaveValue("10");
    await form.locator("#field-edit-volumes").uncheck();
    await form.getByRole("button", { name: "Save" }).click();
    await expect(page.getByTestId("swarm-volumes")).toHaveText("disabled");
    await expect(page.getByTestId("volumes-off")).toBeVisible();

    await page.getByTestId("edit-cluster").click();
    await form.locator("#field-edit-volumes").check();
    await form.getByLabel("Volume sync interval (seconds)").fill("20");
    await form.getByRole("button", { name: "Save" }).click();
    await expect(page.getByTestId("swarm-volumes")).toContainText(/async standby.*every 20 s/);
  });

  test("async standby: the worker's data is primary and reaches the standby every sync interval, complete snapshots only", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const clusters = (await api(page.request, "list_clusters", {})).data.page.rows as { id: string; name: string }[];
    const clusterId = clusters.find((c) => c.name === "vol-2")!.id;
    // A shorter interval goes to the primary (a workflow of its own).
    await api(page.request, "edit_cluster", { id: clusterId, edit: { name: "vol-2", synctime: "1", volumes: true, volume_sync: "2" } });
    // edge-2 is the worker: its data is live (a bind mount of btrfs), edge-1 only receives.
    await expect.poll(() => fsInside("n2", VOLUMES), { timeout: 60_000, intervals: [1_000] }).toBe("btrfs");
    expect(fsInside("n1", VOLUMES)).toBe("");
    const received = () => snapshotsIn("n1", "received");
    await expect.poll(() => received().length, { timeout: 30_000, intervals: [1_000] }).toBe(1);

    // An app on the volume runs where the data is live, and its numbers reach the standby.
    const app = await api(page.request, "create_app", { draft: { name: "Keeper async", kind: "app", model_format: "", description: "" } });
    const version = await api(page.request, "add_app_version", { app_id: app, draft: { version: "1", compose: KEEPER } });
    const appId = await api(page.request, "install_app", {
      cluster_id: clusterId,
      draft: {
        version_id: version, name: "keeper", secrets: [],
        services: [{ name: "writer", mode: "replicated", replicas: "1", constraints: "", spread: "", ports: [] }],
      },
    });
    await expect.poll(() => runningOn("keeper_writer"), { timeout: 90_000, intervals: [1_000] }).toEqual(["edge-2"]);
    const spec = JSON.parse(lab("docker", "n1", "service", "inspect", "keeper_writer", "--format", "{{json .Spec}}"));
    expect(spec.TaskTemplate.Placement.Constraints).toContain("node.labels.io.flotilla.volume-primary==true");
    await expect.poll(() => sequence("n2").length, { timeout: 30_000, intervals: [1_000] }).toBeGreaterThan(50);

    // What the primary had written reaches the standby within the interval and one transfer.
    const standbyHas = () => {
      const newest = received().pop();
      if (!newest) return 0;
      try {
        return lab("exec", "n1", "cat", `${SNAPSHOTS}/received/${newest}/keeper/data/seq`).trim().split("\n").length;
      } catch {
        return 0;
      }
    };
    for (let round = 0; round < 3; round++) {
      const written = sequence("n2").length;
      const since = Date.now();
      await expect.poll(standbyHas, { timeout: 6_000, intervals: [200] }).toBeGreaterThanOrEqual(written);
      console.log(`async standby: ${written} numbers on the standby ${Date.now() - since} ms after they were on the primary`);
    }
    // Only the newest complete snapshot is kept (and one under way); a complete one is
    // read-only: btrfs sets it at the end of a transfer that succeeded.
    expect(received().length).toBeLessThanOrEqual(2);
    await expect(async () => {
      const [oldest] = received();
      expect(lab("exec", "n1", "btrfs", "property", "get", "-ts", `${SNAPSHOTS}/received/${oldest}`, "ro").trim()).toBe("ro=true");
    }).toPass({ timeout: 10_000 });

    // The card names the primary and the recovery point.
    await expect.poll(async () => (await api(page.request, "get_cluster", { id: clusterId })).data.volume_rpo_secs,
      { timeout: 45_000, intervals: [2_000] }).not.toBeNull();
    const detail = (await api(page.request, "get_cluster", { id: clusterId })).data;
    expect(detail.summary.health).toBe("Healthy");
    // (Reported after every heartbeat: the interval, a beat read and a heartbeat at most.)
    expect(detail.volume_rpo_secs).toBeLessThanOrEqual(15);
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await expect(page.getByTestId("swarm-volumes")).toContainText(/async standby: edge-2 is primary, last good sync \d+ s ago \(every 2 s\)/);

    // The Volumes card: the app's volume, where it lives, who uses it, each node's disk.
    const row = page.locator('[data-testid="volume-row"][data-volume="keeper/data"]');
    await expect(row.getByTestId("volume-where")).toHaveText("live on edge-2, snapshots on edge-1");
    await expect(row.getByTestId("volume-services")).toHaveText("keeper_writer");
    // Its size, counted where its data lives (every 30 s, sent with the heartbeats).
    await expect.poll(async () => ((await api(page.request, "get_cluster", { id: clusterId })).data.volumes_in_use as { app: string; bytes: number | null }[])
      .find((v) => v.app === "keeper")?.bytes ?? 0, { timeout: 60_000, intervals: [2_000] }).toBeGreaterThan(0);
    await page.reload();
    await hydrated(page);
    await expect(row.getByTestId("volume-size")).toHaveText(/^\d+\.\d (KiB|MiB)$/);
    await expect(row).toContainText(`${VOLUMES}/keeper/data`);
    await expect(page.locator('[data-testid="volume-disk"][data-hostname="edge-2"]')).toContainText(/edge-2: \d+ MiB of \d+ MiB used \(btrfs\)/);
    // A Viewer sees them and cannot change them.
    await login(page, "vera", "viewer-password-2");
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    await expect(row.getByTestId("volume-services")).toHaveText("keeper_writer");
    const refused = await call(page.request, "edit_cluster", { id: clusterId, edit: { name: "vol-2", synctime: "1", volumes: false, volume_sync: "2" } });
    expect(refused.status()).toBe(403);
    await login(page, "admin", ADMIN_PASSWORD);

    // Off with the app gone: both nodes drop the volume's data.
    await uninstalled(page, clusterId, appId, "keeper_writer");
    // (The app is gone once its uninstall workflow is done: until then the volume stays.)
    await expect(async () => {
      const off = await call(page.request, "edit_cluster", { id: clusterId, edit: { name: "vol-2", synctime: "1", volumes: false, volume_sync: "2" } });
      expect(off.status(), await off.text()).toBe(200);
    }).toPass({ timeout: 60_000, intervals: [1_000] });
    await expect.poll(() => fsInside("n2", VOLUMES), { timeout: 60_000, intervals: [1_000] }).toBe("");
    await expect.poll(() => received().length, { timeout: 30_000, intervals: [1_000] }).toBe(0);
    expect(() => lab("exec", "n2", "test", "-e", `${SNAPSHOTS}/live`)).toThrow();
    const labels = JSON.parse(lab("docker", "n1", "node", "inspect", "edge-2", "--format", "{{json .Spec.Labels}}"));
    expect(labels ?? {}).not.toHaveProperty("io.flotilla.volume-primary");
  });

  test("async standby: the primary crashes, the standby takes over with data no older than the interval and a transfer; back, the old primary keeps what it wrote alone as a conflict snapshot", async ({ page }) => {
    test.setTimeout(480_000);
    await login(page, "admin", ADMIN_PASSWORD);
    const clusters = (await api(page.request, "list_clusters", {})).data.page.rows as { id: string; name: string }[];
    const clusterId = clusters.find((c) => c.name === "vol-2")!.id;
    await api(page.request, "edit_cluster", { id: clusterId, edit: { name: "vol-2", synctime: "1", volumes: true, volume_sync: "2" } });
    await expect.poll(() => fsInside("n2", VOLUMES), { timeout: 60_000, intervals: [1_000] }).toBe("btrfs");
    await expect.poll(() => snapshotsIn("n1", "received").length, { timeout: 30_000, intervals: [1_000] }).toBe(1);
    const collector = await collect();
    const acks = collector.acks;
    try {
      const appId = await installLedger(page.request, clusterId, "Ledger async", "ledger");
      await expect.poll(() => acks.length, { timeout: 90_000, intervals: [1_000] }).toBeGreaterThan(200);
      expect(new Set(acks.map((a) => a.node))).toEqual(new Set(["edge-2"]));

      // The primary loses power. The panel sees it silent, the standby takes over with its newest
      // complete snapshot, the label moves and Swarm starts the writer there.
      const crashedAt = Date.now();
      lab("crash", "n2");
      await expect.poll(() => acks.some((a) => a.at > crashedAt && a.node === "edge-1"), { timeout: 150_000, intervals: [500] }).toBe(true);
      const resumed = acks.find((a) => a.at > crashedAt && a.node === "edge-1")!;
      const flow = ((await api(page.request, "get_cluster", { id: clusterId })).data.activity as Flow[])
        .find((w) => w.kind === "promote-volume")!;
      expect(flow.steps.map((st) => st.title)).toEqual([
        "Take the cluster volume over on edge-1 with its newest complete snapshot (edge-2 is silent)",
        "Label edge-1 as the volume's primary",
        "Label edge-2 without the volume's primary label",
      ]);
      // The new writer carries on after the snapshot's last number: what edge-2 acknowledged
      // after it is what the crash lost — only writes of the last interval and transfer.
      const lost = acks.filter((a) => a.node === "edge-2" && a.n >= resumed.n);
      const oldest = Math.min(...lost.map((a) => a.at), crashedAt);
      console.log(`async standby: the writer wrote again on edge-1 ${resumed.at - crashedAt} ms after the crash; ${lost.length} acknowledged writes lost, the oldest ${crashedAt - oldest} ms before the crash`);
      expect(crashedAt - oldest, "the lost writes are no older than the interval and one transfer").toBeLessThanOrEqual(3_000);
      expect(fsInside("n1", VOLUMES)).toBe("btrfs");

      // Back, the old primary writes nothing: it becomes the standby, keeps what it wrote alone
      // as a conflict snapshot, and receives the new primary's snapshots.
      lab("revive", "n2");
      await expect.poll(() => snapshotsIn("n2", "conflicts").length, { timeout: 150_000, intervals: [2_000] }).toBe(1);
      const [conflict] = snapshotsIn("n2", "conflicts");
      expect(conflict).toMatch(/^e1-\d+$/);
      expect(fsInside("n2", VOLUMES)).toBe("");
      const alone = lab("exec", "n2", "cat", `${SNAPSHOTS}/conflicts/${conflict}/ledger/data/seq`).trim().split("\n").map(Number);
      expect(alone).toEqual(expect.arrayContaining(lost.map((a) => a.n)));
      await expect.poll(() => snapshotsIn("n2", "received").map((n) => n.split("-")[0]), { timeout: 60_000, intervals: [1_000] }).toEqual(["e2"]);
      expect(runningOn("ledger_writer")).toEqual(["edge-1"]);
      const demotion = ((await api(page.request, "get_cluster", { id: clusterId })).data.activity as Flow[])
        .find((w) => w.kind === "demote-volume")!;
      expect(demotion.steps.map((st) => st.title)).toEqual(["Make edge-2 the standby again, keeping what it wrote alone as a conflict snapshot"]);
      await healthy(page, clusterId);
      await page.goto(`/clusters/${clusterId}`);
      await hydrated(page);
      await expect(page.getByTestId("swarm-volumes")).toContainText(`async standby: edge-1 is primary`);
      await expect(page.getByTestId("swarm-volumes")).toContainText(`conflict snapshots kept: ${conflict} on edge-2`, { timeout: 45_000 });

      await uninstalled(page, clusterId, appId, "ledger_writer");
    } finally {
      await collector.close();
    }
  });

  test("async standby: draining the primary hands the volume over with a final snapshot; no acknowledged write is lost, no conflict kept", async ({ page }) => {
    test.setTimeout(300_000);
    await login(page, "admin", ADMIN_PASSWORD);
    const clusters = (await api(page.request, "list_clusters", {})).data.page.rows as { id: string; name: string }[];
    const clusterId = clusters.find((c) => c.name === "vol-2")!.id;
    const nodes = (await api(page.request, "list_nodes", {})).data.page.rows as { id: string; hostname: string }[];
    const edge1 = nodes.find((n) => n.hostname === "edge-1")!.id;
    // After the take-over above, edge-1 is the primary (epoch 2) and edge-2 its standby.
    expect(fsInside("n1", VOLUMES)).toBe("btrfs");
    const conflictsOnN2 = snapshotsIn("n2", "conflicts");
    const collector = await collect();
    const acks = collector.acks;
    try {
      const appId = await installLedger(page.request, clusterId, "Ledger hand-over", "handover");
      await expect.poll(() => acks.filter((a) => a.node === "edge-1").length, { timeout: 90_000, intervals: [1_000] }).toBeGreaterThan(100);

      // The operator drains the primary: the panel hands the volume over instead of leaving the
      // writer without a node.
      const drainedAt = Date.now();
      await api(page.request, "cluster_node_action", { id: clusterId, node_id: edge1, action: { action: "availability", availability: "drain" } });
      await expect.poll(() => acks.some((a) => a.at > drainedAt && a.node === "edge-2"), { timeout: 120_000, intervals: [500] }).toBe(true);
      const flow = ((await api(page.request, "get_cluster", { id: clusterId })).data.activity as Flow[])
        .find((w) => w.kind === "hand-over-volume")!;
      expect(flow.status).toBe("done");
      expect(flow.steps.map((st) => st.title)).toEqual([
        "Drain edge-1 until it runs no task",
        "Send edge-1's last writes to edge-2 in a final snapshot",
        "Take the cluster volume over on edge-2 with that snapshot",
        "Label edge-2 as the volume's primary",
        "Label edge-1 without the volume's primary label",
        "Make edge-1 the standby",
      ]);
      const resumed = acks.find((a) => a.at > drainedAt && a.node === "edge-2")!;
      const onEdge1 = acks.filter((a) => a.node === "edge-1").map((a) => a.n);
      console.log(`hand-over: the writer wrote again on edge-2 ${resumed.at - drainedAt} ms after the drain, after ${Math.max(...onEdge1)}`);
      // Every number edge-1 acknowledged is in the new primary's file, and the writer carried on
      // after them: nothing lost, nothing written twice.
      const file = lab("exec", "n2", "cat", `${VOLUMES}/handover/data/seq`).trim().split("\n").map(Number);
      expect(file.filter((n) => onEdge1.includes(n))).toEqual(onEdge1);
      expect(resumed.n).toBeGreaterThan(Math.max(...onEdge1));
      expect(new Set(file).size).toBe(file.length);
      // The roles swapped without a conflict: edge-1 kept nothing of its own and receives the
      // new epoch's snapshots; edge-2's older conflict snapshot is still there.
      expect(fsInside("n2", VOLUMES)).toBe("btrfs");
      expect(fsInside("n1", VOLUMES)).toBe("");
      expect(snapshotsIn("n1", "conflicts")).toEqual([]);
      expect(snapshotsIn("n2", "conflicts")).toEqual(conflictsOnN2);
      await expect.poll(() => snapshotsIn("n1", "received").map((n) => n.split("-")[0]), { timeout: 60_000, intervals: [1_000] }).toEqual(["e3"]);
      expect(runningOn("handover_writer")).toEqual(["edge-2"]);
      expect(lab("docker", "n1", "node", "inspect", "edge-1", "--format", "{{.Spec.Availability}}")).toBe("drain");

      await uninstalled(page, clusterId, appId, "handover_writer");
      await api(page.request, "cluster_node_action", { id: clusterId, node_id: edge1, action: { action: "availability", availability: "active" } });
    } finally {
      await collector.close();
    }
  });

  test("the cluster is deleted; glusterd on edge-3 answers again", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await removeLeftoverClusters(page.request);
    // Nothing of the async volume is left on its nodes, conflict snapshots included.
    for (const n of ["n1", "n2"]) {
      for (const dir of ["received", "sent", "conflicts"]) expect(snapshotsIn(n, dir), `${n}: ${dir}`).toEqual([]);
      expect(() => lab("exec", n, "test", "-e", `${SNAPSHOTS}/live`), `${n}: live`).toThrow();
    }
    lab("glusterd", "n3", "start");
    await refreshFacts(page, "edge-3");
    await expect(page.getByTestId("fact-replicated-mode")).toHaveText("ready", { timeout: 20_000 });
  });

  test("a cluster of three gets a replicated volume, mounted on every node", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    lab("image");
    await page.goto("/clusters/new");
    await hydrated(page);
    await page.getByLabel("Cluster name").fill("vol-3");
    await page.locator("#field-volumes").check();
    await page.getByTestId("next").click();
    for (const host of ["edge-1", "edge-2", "edge-3"]) await page.getByLabel(`Include ${host}`).check();
    // Three managers: the swarm outlives any one node (the crash and partition tests below).
    for (const host of ["edge-2", "edge-3"]) await page.getByLabel(`Role of ${host}`).selectOption("manager");
    await expect(page.getByTestId("volume-mode")).toHaveText("Replicated");
    await page.getByTestId("create-cluster").click();
    await expect(page.getByTestId("cluster-name")).toHaveText("vol-3");
    await hydrated(page);
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 180_000 });
    // The copies, as the nodes that hold one read GlusterFS's heal summary (in the background,
    // reported with the next facts).
    await expect(page.getByTestId("swarm-volumes")).toHaveText(WHOLE, { timeout: 90_000 });
    await expect(page.getByText("Create the replicated volume on edge-1, edge-2, edge-3")).toBeVisible();
    volumeUp();

    // What one node writes, another reads, and a container on a third sees (dockerd shares
    // the node's mount namespace).
    lab("exec", "n1", "sh", "-c", `echo from-n1 > ${VOLUMES}/probe`);
    expect(lab("exec", "n3", "cat", `${VOLUMES}/probe`).trim()).toBe("from-n1");
    expect(lab("docker", "n2", "run", "--rm", "-v", `${VOLUMES}:/v`, "flotilla-lab/busybox:1", "cat", "/v/probe").trim()).toBe("from-n1");

    // A mount that goes (as after a reboot) comes back by itself, with the data.
    lab("exec", "n2", "umount", VOLUMES);
    expect(fsInside("n2", VOLUMES)).toBe("");
    await expect.poll(() => fsInside("n2", VOLUMES), { timeout: 45_000, intervals: [1_000] }).toBe("fuse.glusterfs");
    expect(lab("exec", "n2", "cat", `${VOLUMES}/probe`).trim()).toBe("from-n1");
  });

  test("turning volumes off takes the volume down on the nodes; on sets it up again", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/clusters");
    await hydrated(page);
    await page.getByRole("link", { name: "vol-3", exact: true }).click();
    await expect(page.getByTestId("cluster-name")).toHaveText("vol-3");
    await hydrated(page);
    const form = page.getByTestId("edit-cluster-form");
    await page.getByTestId("edit-cluster").click();
    await expect(form.locator("#field-edit-volumes")).toBeChecked();
    await form.locator("#field-edit-volumes").uncheck();
    await form.getByRole("button", { name: "Save" }).click();
    await expect(page.getByTestId("swarm-volumes")).toHaveText("disabled");
    const removal = page.locator('[data-testid="workflow"][data-kind="remove-volumes"]').first();
    await expect(removal).toHaveAttribute("data-status", "done", { timeout: 90_000 });
    await expect(removal.getByTestId("timeline-step").last()).toContainText("Clear the volume's copy on edge-3");
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy");
    volumeGone();

    await page.getByTestId("edit-cluster").click();
    await form.locator("#field-edit-volumes").check();
    await form.getByRole("button", { name: "Save" }).click();
    await expect(page.getByTestId("swarm-volumes")).toHaveText(WHOLE, { timeout: 90_000 });
    volumeUp();
    // A new volume: the old one's files went with it.
    expect(() => lab("exec", "n1", "cat", `${VOLUMES}/probe`)).toThrow();
  });

  test("an app keeps its data on the cluster volume, one writer, and carries on when moved", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const clusters = (await api(page.request, "list_clusters", {})).data.page.rows as { id: string; name: string }[];
    const clusterId = clusters.find((c) => c.name === "vol-3")!.id;
    const app = await api(page.request, "create_app", { draft: { name: "Keeper", kind: "app", model_format: "", description: "" } });
    const version = await api(page.request, "add_app_version", { app_id: app, draft: { version: "1", compose: KEEPER } });
    const install = (replicas: string) => call(page.request, "install_app", {
      cluster_id: clusterId,
      draft: {
        version_id: version, name: "keeper", secrets: [],
        services: [{ name: "writer", mode: "replicated", replicas, constraints: "", spread: "", ports: [] }],
      },
    });
    const refused = await install("3");
    expect(refused.status()).toBe(422);
    expect(await refused.text()).toContain("it runs one task");
    const answer = await install("1");
    expect(answer.status(), await answer.text()).toBe(200);
    const appId = await answer.json();
    await expect.poll(() => runningOn("keeper_writer").length, { timeout: 90_000, intervals: [1_000] }).toBe(1);
    await expect.poll(() => sequence("n3").length, { timeout: 30_000, intervals: [1_000] }).toBeGreaterThan(50);

    // One task, a bind mount of the app's directory, stop-first updates.
    const spec = JSON.parse(lab("docker", "n1", "service", "inspect", "keeper_writer", "--format", "{{json .Spec}}"));
    expect(spec.Mode.Replicated.Replicas).toBe(1);
    expect(spec.TaskTemplate.ContainerSpec.Mounts[0]).toMatchObject({ Type: "bind", Source: `${VOLUMES}/keeper/data`, Target: "/data" });
    expect(spec.UpdateConfig.Order).toBe("stop-first");
    await page.goto(`/clusters/${clusterId}`);
    await hydrated(page);
    const row = page.locator('[data-testid="volume-row"][data-volume="keeper/data"]');
    await expect(row.getByTestId("volume-where")).toHaveText("on every node; copies on edge-1, edge-2, edge-3");
    await expect(row.getByTestId("volume-services")).toHaveText("keeper_writer");
    // Its size, counted where its data lives (every 30 s, sent with the heartbeats).
    await expect.poll(async () => ((await api(page.request, "get_cluster", { id: clusterId })).data.volumes_in_use as { app: string; bytes: number | null }[])
      .find((v) => v.app === "keeper")?.bytes ?? 0, { timeout: 60_000, intervals: [2_000] }).toBeGreaterThan(0);
    await page.reload();
    await hydrated(page);
    await expect(row.getByTestId("volume-size")).toHaveText(/^\d+\.\d (KiB|MiB)$/);
    await expect(page.locator('[data-testid="volume-disk"][data-hostname="edge-3"]')).toContainText(/MiB used \(xfs\)/);
    // Every node holds a copy of the file.
    for (const n of NODES) lab("exec", n, "test", "-s", "/var/lib/flotilla/bricks/flotilla/keeper/data/seq");

    // The volume cannot be turned off under the app.
    const off = await call(page.request, "edit_cluster", {
      id: clusterId,
      edit: { name: "vol-3", synctime: "1", volumes: false, volume_sync: "5" },
    });
    expect(off.status()).toBe(409);
    expect(await off.text()).toContain("Apps keep data on the cluster volume (keeper)");

    // Drained away, the writer carries on on another node where it stopped: no number is
    // missing or written twice.
    const [first] = runningOn("keeper_writer");
    lab("docker", "n1", "node", "update", "--availability", "drain", first);
    await expect.poll(() => runningOn("keeper_writer")[0] ?? first, { timeout: 90_000, intervals: [1_000] }).not.toBe(first);
    const moved = sequence("n1").length;
    await expect.poll(() => sequence("n2").length, { timeout: 30_000, intervals: [1_000] }).toBeGreaterThan(moved + 50);
    lab("docker", "n1", "node", "update", "--availability", "active", first);
    const seq = sequence("n3").slice(0, -1); // (the last line may be half written)
    const wrong = seq.filter((v, i) => v !== i + 1);
    expect(wrong, `the sequence has gaps or repeats (of ${seq.length})`).toEqual([]);

    await uninstalled(page, clusterId, appId, "keeper_writer");
  });

  test("a mount whose FUSE client died is mounted again and the containers on it are restarted", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const clusters = (await api(page.request, "list_clusters", {})).data.page.rows as { id: string; name: string }[];
    const clusterId = clusters.find((c) => c.name === "vol-3")!.id;
    const app = await api(page.request, "create_app", { draft: { name: "Patient", kind: "app", model_format: "", description: "" } });
    const version = await api(page.request, "add_app_version", { app_id: app, draft: { version: "1", compose: PATIENT } });
    const appId = await api(page.request, "install_app", {
      cluster_id: clusterId,
      draft: {
        version_id: version, name: "patient", secrets: [],
        services: [{ name: "writer", mode: "replicated", replicas: "1", constraints: "", spread: "", ports: [] }],
      },
    });
    await expect.poll(() => runningOn("patient_writer").length, { timeout: 90_000, intervals: [1_000] }).toBe(1);
    const node = `n${runningOn("patient_writer")[0].slice(-1)}`;
    const other = NODES.find((n) => n !== node)!;
    const beats = () => {
      try {
        return Number(lab("exec", other, "sh", "-c", `wc -l < ${VOLUMES}/patient/data/beat`).trim());
      } catch {
        return 0;
      }
    };
    await expect.poll(beats, { timeout: 30_000, intervals: [1_000] }).toBeGreaterThan(10);

    // Its client killed, the node's mount is dead, and so is the writer's bind mount of it: its
    // appends fail and it goes on (nothing restarts it but the agent).
    lab("kill-mount-client", node);
    expect(() => lab("exec", node, "stat", VOLUMES)).toThrow(/not connected/);
    const stalled = beats();
    // The agent mounts it again (at its next facts reading) and kills the containers that used
    // the old mount; Swarm starts the writer again on the new one, and the file grows again.
    await expect.poll(beats, { timeout: 120_000, intervals: [2_000] }).toBeGreaterThan(stalled + 10);
    expect(fsInside(node, VOLUMES)).toBe("fuse.glusterfs");
    lab("exec", node, "stat", VOLUMES);
    expect(readFileSync(`/run/flotilla-lab/${node}/agent.log`, "utf8"))
      .toMatch(/mounted again: restarted the containers that used the old mount killed=\[".*patient_writer/);
    await healthy(page, clusterId);
    await uninstalled(page, clusterId, appId, "patient_writer");
  });

  test("the writer's node is crashed: it writes again elsewhere and no acknowledged write is lost", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const clusters = (await api(page.request, "list_clusters", {})).data.page.rows as { id: string; name: string }[];
    const clusterId = clusters.find((c) => c.name === "vol-3")!.id;
    const collector = await collect();
    const acks = collector.acks;
    try {
      const appId = await installLedger(page.request, clusterId, "Ledger", "ledger");
      await expect.poll(() => acks.length, { timeout: 90_000, intervals: [1_000] }).toBeGreaterThan(100);
      const victim = acks[acks.length - 1].node; // edge-K
      const node = `n${victim.slice(-1)}`;
      const crashedAt = Date.now();
      lab("crash", node);
      await expect.poll(() => acks.some((a) => a.at > crashedAt && a.node !== victim), { timeout: 120_000, intervals: [500] }).toBe(true);
      const resumed = acks.find((a) => a.at > crashedAt && a.node !== victim)!;
      const lastBefore = acks.filter((a) => a.node === victim).pop()!;
      console.log(`writer on ${victim} crashed: acknowledged writes stopped ${lastBefore.at - crashedAt} ms after the crash, resumed on ${resumed.node} after ${resumed.at - crashedAt} ms`);
      const count = acks.length;
      await expect.poll(() => acks.length, { timeout: 30_000, intervals: [500] }).toBeGreaterThan(count + 100);

      // Every acknowledged number is in the file, read on a surviving node.
      const reader = ["n1", "n2", "n3"].find((n) => n !== node)!;
      // The survivors see the missing copy and what it has to catch up on: the cluster says so.
      const nodes = (await api(page.request, "list_nodes", {})).data.page.rows as { id: string; hostname: string }[];
      const readerId = nodes.find((n) => n.hostname === `edge-${reader.slice(1)}`)!.id;
      await expect.poll(async () => {
        await api(page.request, "refresh_node", { id: readerId });
        return (await api(page.request, "get_cluster", { id: clusterId })).data.summary.reason as string;
      }, { timeout: 90_000, intervals: [3_000] }).toMatch(/the cluster volume: 2 of 3 copies answer, \d+ entries to heal/);
      const written = new Set(lab("exec", reader, "cat", `${VOLUMES}/ledger/data/seq`).trim().split("\n").map(Number));
      const lost = acks.filter((a) => !written.has(a.n)).map((a) => a.n);
      expect(lost, `acknowledged writes missing from the file (of ${acks.length})`).toEqual([]);

      // The node comes back: its agent mounts the volume again and the copies heal.
      lab("revive", node);
      await expect.poll(() => fsInside(node, VOLUMES), { timeout: 120_000, intervals: [2_000] }).toBe("fuse.glusterfs");
      const pending = () => {
        try {
          return [...lab("gluster", reader, "volume", "heal", "flotilla", "info").matchAll(/Number of entries: (\d+)/g)].map((m) => Number(m[1]));
        } catch {
          return [-1];
        }
      };
      await expect.poll(() => pending().every((e) => e === 0) && pending().length === 3, { timeout: 120_000, intervals: [2_000] }).toBe(true);
      await healthy(page, clusterId);
      await uninstalled(page, clusterId, appId, "ledger_writer");
    } finally {
      await collector.close();
    }
  });

  test("a partitioned node's writer is fenced before its replacement writes; no record twice after the partition heals", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const clusters = (await api(page.request, "list_clusters", {})).data.page.rows as { id: string; name: string }[];
    const clusterId = clusters.find((c) => c.name === "vol-3")!.id;
    const collector = await collect();
    try {
      const appId = await installLedger(page.request, clusterId, "Ledger split", "split");
      const acks = collector.acks;
      await expect.poll(() => acks.length, { timeout: 90_000, intervals: [1_000] }).toBeGreaterThan(100);
      const victim = acks[acks.length - 1].node;
      const node = `n${victim.slice(-1)}`;
      const cutAt = Date.now();
      lab("partition", node);
      try {
        // On the isolated node the writer's container goes (its engine is still reachable
        // from the host through its socket), before a replacement acknowledged a write.
        const running = () => lab("docker", node, "ps", "-q", "--filter", "name=split_writer");
        await expect.poll(running, { timeout: 30_000, intervals: [250] }).toBe("");
        const stoppedAt = Date.now();
        try {
          await expect.poll(() => acks.some((a) => a.node !== victim && a.at > cutAt), { timeout: 120_000, intervals: [500] }).toBe(true);
        } catch (e) {
          // What Swarm and GlusterFS say on the nodes that still see each other.
          const reader = ["n1", "n2", "n3"].find((n) => n !== node)!;
          for (const args of [
            ["docker", reader, "service", "ps", "split_writer", "--no-trunc", "--format", "{{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}"],
            ["docker", reader, "node", "ls"],
            ["gluster", reader, "volume", "status", "flotilla"],
            ["exec", reader, "tail", "-n", "3", `${VOLUMES}/split/data/seq`],
          ]) {
            try {
              console.log(`$ lab ${args.join(" ")}\n${lab(...args)}`);
            } catch (why) {
              console.log(`$ lab ${args.join(" ")}: ${why}`);
            }
          }
          throw e;
        }
        const replaced = acks.find((a) => a.node !== victim && a.at > cutAt)!;
        console.log(`partitioned ${victim}: its writer stopped ${stoppedAt - cutAt} ms after the cut, the replacement on ${replaced.node} wrote ${replaced.at - cutAt} ms after it`);
        expect(stoppedAt).toBeLessThan(replaced.at);
        expect(readFileSync(`/run/flotilla-lab/${node}/agent.log`, "utf8")).toContain("cut off from the cluster volume's nodes: fencing");
      } finally {
        lab("heal", node);
      }
      // The healed node's writer never comes back to life next to the replacement.
      const count = acks.length;
      await expect.poll(() => acks.length, { timeout: 60_000, intervals: [1_000] }).toBeGreaterThan(count + 500);
      const reader = ["n1", "n2", "n3"].find((n) => n !== node)!;
      const seq = lab("exec", reader, "cat", `${VOLUMES}/split/data/seq`).trim().split("\n").slice(0, -1).map(Number);
      const twice = seq.filter((v, i) => seq.indexOf(v) !== i);
      expect(twice, `records written twice (of ${seq.length})`).toEqual([]);
      await healthy(page, clusterId);
      await uninstalled(page, clusterId, appId, "split_writer");
    } finally {
      await collector.close();
    }
  });

  test("a rolling firmware upgrade loses no acknowledged write and waits for each node's copy to catch up", async ({ page }) => {
    test.setTimeout(900_000);
    await login(page, "admin", ADMIN_PASSWORD);
    const clusters = (await api(page.request, "list_clusters", {})).data.page.rows as { id: string; name: string }[];
    const clusterId = clusters.find((c) => c.name === "vol-3")!.id;
    const collector = await collect();
    const acks = collector.acks;
    try {
      const appId = await installLedger(page.request, clusterId, "Ledger rolled", "rolled");
      await expect.poll(() => acks.length, { timeout: 90_000, intervals: [1_000] }).toBeGreaterThan(100);

      // A firmware no node runs yet, rolled out over the cluster: the one writer is not a reason
      // to refuse (it moves with the drain), and each node's copy catches up after its commit.
      const file = path.join(FIRMWARE_DIR, "lab-12.0.0.fw");
      lab("make-firmware", "lab-12.0.0", file);
      const up = await page.request.post(`/api/firmware/upload?version=lab-12.0.0&target=${ARCH}`, { data: readFileSync(file) });
      expect(up.status(), await up.text()).toBe(200);
      const artifact = (await up.json()).id as string;
      await api(page.request, "rollout_firmware", { draft: { cluster_id: clusterId, artifact_id: artifact, gate_secs: "120" } });
      const rollout = async () => ((await api(page.request, "get_cluster", { id: clusterId })).data.activity as Flow[])
        .find((w) => w.kind === "firmware-rollout")!;
      await expect.poll(async () => (await rollout()).status, { timeout: 900_000, intervals: [5_000] }).toBe("done");
      const flow = await rollout();
      for (const s of flow.steps) {
        console.log(`  ${((s.started_at_ms ?? 0) / 1000).toFixed(1)} → ${((s.finished_at_ms ?? 0) / 1000).toFixed(1)}  ${s.status} ${s.title}`);
      }
      // Per node: its commit, then the wait for its copy, then the next node's checks.
      for (const host of ["edge-1", "edge-2", "edge-3"]) {
        const at = (title: string) => flow.steps.findIndex((st) => st.title === title);
        const healed = at(`Wait until ${host}'s copy of the cluster volume has caught up`);
        expect(healed, `the heal wait of ${host}`).toBeGreaterThan(0);
        expect(flow.steps[healed - 1].title).toMatch(new RegExp(`^Commit lab-12\\.0\\.0 on ${host}$`));
        expect(flow.steps[healed].status).toBe("done");
        if (healed + 1 < flow.steps.length) expect(flow.steps[healed + 1].title).toMatch(/^Check that edge-\d can go down$/);
      }
      for (const n of NODES) expect(lab("firmware", n)).toContain("version=lab-12.0.0");

      // Writing went on through the three reboots, and no acknowledged number is missing.
      const count = acks.length;
      await expect.poll(() => acks.length, { timeout: 60_000, intervals: [500] }).toBeGreaterThan(count + 50);
      const written = new Set(lab("exec", "n1", "cat", `${VOLUMES}/rolled/data/seq`).trim().split("\n").map(Number));
      const lost = acks.filter((a) => !written.has(a.n)).map((a) => a.n);
      expect(lost, `acknowledged writes missing from the file (of ${acks.length})`).toEqual([]);
      const nodesSeen = new Set(acks.map((a) => a.node));
      console.log(`rolling upgrade: ${acks.length} acknowledged writes from ${[...nodesSeen].join(", ")}, 0 lost`);
      await healthy(page, clusterId);
      await uninstalled(page, clusterId, appId, "rolled_writer");
    } finally {
      await collector.close();
    }
  });

  test("a node that holds a copy is removed: its copy moves to the next member first, no acknowledged write is lost", async ({ page }) => {
    test.setTimeout(480_000);
    await login(page, "admin", ADMIN_PASSWORD);
    const clusters = (await api(page.request, "list_clusters", {})).data.page.rows as { id: string; name: string }[];
    const clusterId = clusters.find((c) => c.name === "vol-3")!.id;
    // A fourth node joins the cluster: it mounts the volume and holds no copy.
    lab("up", "4");
    lab("image");
    const key = (await api(page.request, "create_key", { label: "fourth node", expires_in_hours: "1", max_uses: "1" })).secret;
    lab("agents", AGENT_URL, key, "n4");
    const online = async () => (await api(page.request, "list_nodes", { status: "online" })).data.page.rows as { id: string; hostname: string }[];
    await expect.poll(async () => (await online()).map((n) => n.hostname), { timeout: 60_000 }).toContain("edge-4");
    const edge4 = (await online()).find((n) => n.hostname === "edge-4")!.id;
    await api(page.request, "add_cluster_node", {
      id: clusterId, draft: { node_id: edge4, role: "worker", labels: "", interface: "eth0", vip: false },
    });
    await expect.poll(() => fsInside("n4", VOLUMES), { timeout: 120_000, intervals: [1_000] }).toBe("fuse.glusterfs");
    await healthy(page, clusterId);

    const collector = await collect();
    const acks = collector.acks;
    try {
      const appId = await installLedger(page.request, clusterId, "Ledger moved", "moved");
      await expect.poll(() => acks.length, { timeout: 90_000, intervals: [1_000] }).toBeGreaterThan(100);

      // The operator removes edge-2, which holds a copy; the confirmation says where it goes.
      await page.goto(`/clusters/${clusterId}`);
      await hydrated(page);
      const edge2 = page.locator('[data-testid="member"][data-hostname="edge-2"]');
      await edge2.getByRole("button", { name: "Remove" }).click();
      await expect(page.getByRole("dialog")).toContainText("Its copy of the cluster volume moves to edge-4 first");
      await confirmDialog(page);
      const removal = async () => ((await api(page.request, "get_cluster", { id: clusterId })).data.activity as Flow[])
        .find((w) => w.kind === "remove-node");
      await expect.poll(async () => (await removal())?.status, { timeout: 300_000, intervals: [2_000] }).toBe("done");
      await expect(edge2).toHaveCount(0, { timeout: 30_000 });

      // On the nodes: the copies are on edge-1, edge-4 and edge-3, whole; edge-2 keeps nothing.
      const info = lab("gluster", "n1", "volume", "info", "flotilla");
      expect(info).toContain("Number of Bricks: 1 x 3 = 3");
      for (const ip of ["10.77.0.11", "10.77.0.14", "10.77.0.13"]) expect(info).toContain(`${ip}:/var/lib/flotilla/bricks/flotilla`);
      expect(info).not.toContain("10.77.0.12:");
      expect(fsInside("n2", VOLUMES), "n2: mount").toBe("");
      expect(() => lab("exec", "n2", "test", "-e", "/var/lib/flotilla/bricks/flotilla"), "n2: brick").toThrow();
      expect(lab("gluster", "n2", "pool", "list").trim().split("\n").length, "n2: pool").toBe(2);
      expect(lab("gluster", "n1", "pool", "list")).not.toContain("10.77.0.12");
      const pending = [...lab("gluster", "n1", "volume", "heal", "flotilla", "info").matchAll(/Number of entries: (\d+)/g)].map((m) => Number(m[1]));
      expect(pending).toEqual([0, 0, 0]);
      expect(Number(lab("exec", "n4", "stat", "-c", "%s", "/var/lib/flotilla/bricks/flotilla/moved/data/seq"))).toBeGreaterThan(0);

      // The removal waited for the new copy before edge-2 left the swarm.
      const flow = (await removal())!;
      const at = (title: string) => flow.steps.findIndex((st) => st.title === title);
      const moved = at("Move edge-2's copy of the cluster volume to edge-4");
      const whole = at("Wait until edge-4's new copy is whole");
      const forgotten = at("Forget edge-2 in this cluster");
      expect(moved, flow.steps.map((st) => st.title).join(" | ")).toBeGreaterThanOrEqual(0);
      expect(whole).toBe(moved + 1);
      expect(forgotten).toBeGreaterThan(whole);

      // The writer went on, and no acknowledged number is missing.
      const count = acks.length;
      await expect.poll(() => acks.length, { timeout: 60_000, intervals: [500] }).toBeGreaterThan(count + 100);
      const written = new Set(lab("exec", "n4", "cat", `${VOLUMES}/moved/data/seq`).trim().split("\n").map(Number));
      const lost = acks.filter((a) => !written.has(a.n)).map((a) => a.n);
      expect(lost, `acknowledged writes missing from the file (of ${acks.length})`).toEqual([]);
      console.log(`copy moved from edge-2 to edge-4: ${acks.length} acknowledged writes from ${[...new Set(acks.map((a) => a.node))].join(", ")}, 0 lost`);
      await healthy(page, clusterId);
      await expect(page.getByTestId("swarm-volumes")).toHaveText(WHOLE, { timeout: 90_000 });
      await uninstalled(page, clusterId, appId, "moved_writer");
    } finally {
      await collector.close();
    }
  });

  test("deleting the cluster takes its volume down first", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await removeLeftoverClusters(page.request);
    volumeGone([...NODES, "n4"]);
  });

  test.afterAll(() => {
    // Also when a test above failed: the node's glusterd runs again for whatever comes next.
    lab("glusterd", "n3", "start");
  });
});
