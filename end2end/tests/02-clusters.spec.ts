import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { expect, Page, test } from "@playwright/test";
import { ADMIN_PASSWORD, api, hydrated, lab, login, removeLeftoverClusters } from "./helpers";

const VIP = "10.77.0.100";

function nodeOf(hostname: string): string {
  return `n${hostname.slice(-1)}`;
}

function holders(): string[] {
  return lab("vip-holders", VIP).split("\n").filter((l) => l.length > 0);
}

/** A lab node's VRRP offset, KeepAlived's track file that its agent writes (0, +50, -254). */
function setOffset(node: string, value: number) {
  writeFileSync(`/var/lib/flotilla-lab/${node}/agent/keepalived/vip-offset`, `${value}\n`);
}

/** Runs a command in a lab node's network namespace. */
function inNode(node: string, ...cmd: string[]): string {
  return execFileSync("ip", ["netns", "exec", `flt-${node}`, ...cmd], { encoding: "utf8" }).trim();
}

/** `docker ...` on a lab node, parsed as JSON. */
function dockerJson(node: string, ...args: string[]): any {
  return JSON.parse(lab("docker", node, ...args));
}

async function openCluster(page: Page, name: string) {
  await page.goto("/clusters");
  await hydrated(page);
  await page.getByRole("link", { name, exact: true }).click();
  await expect(page.getByTestId("cluster-name")).toHaveText(name);
  await hydrated(page);
}

// Builds on 01-skeleton: three lab nodes enrolled and online.
test.describe.serial("clusters", () => {
  test.setTimeout(240_000);
  let leader = "n1";

  test("bad input in every wizard field gets an inline message, and the server refuses it too", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/clusters/new");
    await hydrated(page);
    await page.getByLabel("Cluster name").fill("x");
    await page.locator("#field-vip-enabled").check();
    await page.locator("#vip-address-0").fill("10.77.0.0/24");
    await page.locator("#vip-peers-0").fill("10.77.0.12, nope");
    await page.getByLabel("Synctime (seconds)").fill("0.005");
    await page.getByLabel("Address pool 1").fill("10.200.1.0/16");
    await page.getByLabel("Subnet size (prefix length)").fill("12");
    await page.getByRole("button", { name: "Advanced settings" }).click();
    await page.getByLabel("Data-path port (VXLAN)").fill("80");
    await page.getByLabel("Listen / advertise port").fill("70000");
    await page.getByTestId("next").click();
    await expect(page.getByTestId("error-name")).toContainText("2 to 40");
    await expect(page.getByTestId("error-synctime")).toContainText("more than 0.005");
    await expect(page.getByTestId("error-pools.0")).toContainText("10.200.0.0/16");
    await expect(page.getByTestId("error-subnet_size")).toContainText("16 to 29");
    await expect(page.getByTestId("error-data_path_port")).toContainText("1024 to 49151");
    await expect(page.getByTestId("error-listen_port")).toContainText("1024 to 65535");
    await expect(page.getByTestId("error-vips.0.address")).toContainText("network address");
    await expect(page.getByTestId("error-vips.0.peers")).toContainText("nope");
    // Still on step one.
    await expect(page.getByTestId("definition-form")).toBeVisible();

    // Typing a valid value clears its message.
    await page.getByLabel("Cluster name").fill("line-3");
    await expect(page.getByTestId("error-name")).toHaveCount(0);

    // The server refuses the same draft when called directly, field by field.
    const response = await page.request.post("/api/create_cluster", {
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      data: {
        draft: {
          definition: {
            name: "x", volumes: false, vip_enabled: true,
            vips: [{ address: "10.77.0.0/24", interface: "", peers: "nope" }],
            synctime: "0.005", pools: ["10.0.0.0/8"], subnet_size: "12", data_path_port: "80", listen_port: "70000",
          },
          members: [],
        },
      },
    });
    expect(response.status()).toBe(422);
    const body = await response.text();
    for (const field of ["name", "synctime", "subnet_size", "data_path_port", "listen_port", "vips.0.address", "vips.0.peers", "members"]) {
      expect(body).toContain(`"field":"${field}"`);
    }
    // A pool overlapping the nodes' own network is refused against real node facts.
    const overlap = await page.request.post("/api/create_cluster", {
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      data: {
        draft: {
          definition: {
            name: "overlap", volumes: false, vip_enabled: false, vips: [],
            synctime: "0.1", pools: ["10.0.0.0/8"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
          },
          members: [],
        },
      },
    });
    expect(overlap.status()).toBe(422);
  });

  test("a 3-node cluster with one VIP is built through the wizard", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/clusters");
    await hydrated(page);
    await page.getByRole("link", { name: "Add cluster" }).click();
    await hydrated(page);
    await page.getByLabel("Cluster name").fill("line-3");
    await page.locator("#field-vip-enabled").check();
    await page.locator("#vip-address-0").fill(`${VIP}/24`);
    await page.getByRole("button", { name: "Advanced settings" }).click();
    await page.getByLabel("Data-path port (VXLAN)").fill("4790");
    await page.getByTestId("next").click();

    for (const [host, zone] of [["edge-1", "a"], ["edge-2", "b"], ["edge-3", "c"]]) {
      await page.getByLabel(`Include ${host}`).check();
      await page.getByLabel(`Role of ${host}`).selectOption("manager");
      await page.getByLabel(`Labels of ${host}`).fill(`zone=${zone}, site=lab`);
    }
    // Inline validation of labels on step two.
    await page.getByLabel("Labels of edge-3").fill("Zone=c");
    await page.getByTestId("create-cluster").click();
    await expect(page.getByTestId("error-labels")).toContainText("lowercase");
    await page.getByLabel("Labels of edge-3").fill("zone=c, site=lab");
    await page.getByTestId("create-cluster").click();

    await expect(page.getByTestId("cluster-name")).toHaveText("line-3");
    await expect(page.getByTestId("progress")).toBeVisible();
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 150_000 });

    // Checked on the nodes themselves.
    const nodes = lab("docker", "n1", "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}").split("\n").sort();
    expect(nodes).toHaveLength(3);
    for (const line of nodes) expect(line).toMatch(/^edge-\d Ready (Leader|Reachable)$/);
    leader = nodeOf(nodes.find((l) => l.endsWith("Leader"))!.split(" ")[0]);
    for (const [host, zone] of [["edge-1", "a"], ["edge-2", "b"], ["edge-3", "c"]]) {
      const labels = dockerJson(leader, "node", "inspect", host, "--format", "{{json .Spec.Labels}}");
      expect(labels).toEqual({ zone, site: "lab" });
    }
    const swarm = dockerJson(leader, "info", "--format", "{{json .Swarm.Cluster}}");
    expect(swarm.DefaultAddrPool).toEqual(["10.200.0.0/16"]);
    expect(swarm.SubnetSize).toBe(24);
    expect(swarm.DataPathPort).toBe(4790);
    await expect.poll(() => holders(), { timeout: 20_000 }).toHaveLength(1);

    // The UI names the node that really holds the VIP.
    const owner = holders()[0];
    await expect(page.getByTestId("vip-owner")).toHaveText(`edge-${owner.slice(1)}`);
    await expect(page.getByTestId("swarm-data-path-port")).toHaveText("4790");
    // This lab's kernel has no IPVS: the page says how to publish instead.
    await expect(page.getByTestId("publishing")).toContainText("No IPVS on edge-1, edge-2, edge-3");
    await expect(page.getByTestId("publishing")).toContainText("host mode with endpoint mode dnsrr");
    // The activity view: the build with its timeline, every step done on its node.
    const build = page.locator('[data-testid="workflow"][data-kind="create"]');
    await expect(build).toHaveAttribute("data-status", "done");
    const steps = build.getByTestId("timeline-step");
    expect(await steps.count()).toBeGreaterThanOrEqual(7);
    await expect(build.locator('[data-testid="timeline-step"]:not([data-status="done"])')).toHaveCount(0);
    await expect(steps.first()).toContainText("Initialise the swarm on edge-");
    await expect(build.getByTestId("workflow-pause")).toHaveCount(0);
    await page.getByRole("link", { name: "← Clusters" }).click();
    const row = page.locator('[data-testid="cluster-row"][data-name="line-3"]');
    await expect(row).toHaveAttribute("data-health", "Healthy");
    await expect(row.getByTestId("online")).toHaveText("3/3");
    await expect(row.getByTestId("vips")).toContainText(`${VIP}/24 → edge-${owner.slice(1)}`);
  });

  test("every member has the VIP on lo; a boosted node takes it over, a fenced one gives it away", async () => {
    for (const n of ["n1", "n2", "n3"]) {
      expect(inNode(n, "ip", "-4", "-o", "addr", "show", "dev", "lo")).toContain(`${VIP}/32`);
      expect(inNode(n, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore")).toBe("1");
      expect(inNode(n, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_announce")).toBe("2");
    }
    // Right after the build the first election may still settle: one holder, the same for 2 s.
    let seen = "";
    await expect.poll(async () => {
      const now = holders().join(",");
      const stable = now === seen && holders().length === 1;
      seen = now;
      if (!stable) await new Promise((r) => setTimeout(r, 2_000));
      return stable;
    }, { timeout: 30_000, intervals: [0] }).toBe(true);
    const [owner] = holders();
    const target = ["n1", "n2", "n3"].find((n) => n !== owner)!;
    // Make-before-break: the raised target preempts the holder.
    setOffset(target, 50);
    await expect.poll(holders, { timeout: 10_000 }).toEqual([target]);
    // Equal priorities again: nothing moves back.
    setOffset(target, 0);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(holders()).toEqual([target]);
    // Fenced (FAULT): it gives the VIP away and cannot take it back while fenced.
    setOffset(target, -254);
    await expect.poll(() => holders().filter((n) => n !== target).length, { timeout: 10_000 }).toBe(1);
    expect(holders()).not.toContain(target);
    setOffset(target, 0);
  });

  test("draining a node moves its tasks away and the UI shows it drained", async ({ page }) => {
    // Workloads are a later issue: start a plain replicated service on the swarm directly.
    lab("docker", leader, "service", "create", "-q", "--name", "web", "--replicas", "3", "--no-resolve-image", "flotilla-lab/busybox:1");
    const running = () =>
      lab("docker", leader, "service", "ps", "web", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}")
        .split("\n")
        .filter((l) => l.includes("Running"));
    await expect.poll(() => running().length, { timeout: 60_000 }).toBe(3);
    const victim = running()[0].split(" ")[0];

    await login(page, "admin", ADMIN_PASSWORD);
    await openCluster(page, "line-3");
    const member = page.locator(`[data-testid="member"][data-hostname="${victim}"]`);
    await member.getByLabel("Availability").selectOption("drain");
    await expect(page.getByTestId("toast")).toContainText("Done.");
    await expect(member).toHaveAttribute("data-availability", "drain", { timeout: 20_000 });
    await expect.poll(() => running().filter((l) => l.startsWith(victim)).length, { timeout: 60_000 }).toBe(0);
    await expect.poll(() => running().length, { timeout: 60_000 }).toBe(3);

    // A refresh that fails keeps the page as it was, says so, and the next one mends it.
    await page.route("**/api/get_cluster*", (route) => route.abort());
    await member.getByLabel("Availability").selectOption("active");
    await expect(page.getByTestId("refresh-failed")).toBeVisible({ timeout: 20_000 });
    await expect(member).toHaveAttribute("data-availability", "drain");
    await page.unroute("**/api/get_cluster*");
    await expect(member).toHaveAttribute("data-availability", "active", { timeout: 20_000 });
    await expect(page.getByTestId("refresh-failed")).toHaveCount(0);
    lab("docker", leader, "service", "rm", "web");
  });

  test("live refreshes leave the page in place: it is never swapped out, and what is typed stays", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await openCluster(page, "line-3");
    // Counts the moments the page's cards are out of the document (a boundary showing its
    // fallback while the page's data reloads takes the whole page out).
    await page.evaluate(() => {
      const w = window as unknown as { swappedOut: number };
      w.swappedOut = 0;
      const card = document.querySelector('[data-testid="rollout-gates"]')!;
      new MutationObserver(() => {
        if (!card.isConnected) w.swappedOut++;
      }).observe(document.body, { childList: true, subtree: true });
    });
    const typed = page.getByTestId("gate-name");
    await typed.fill("typed before the refreshes");
    // Each change refreshes the page live (its action's result and the server's event).
    const member = page.locator('[data-testid="member"]').last();
    for (const availability of ["pause", "active", "pause", "active"]) {
      await member.getByLabel("Availability").selectOption(availability);
      await expect(member).toHaveAttribute("data-availability", availability, { timeout: 20_000 });
    }
    expect(await page.evaluate(() => (window as unknown as { swappedOut: number }).swappedOut)).toBe(0);
    await expect(typed).toHaveValue("typed before the refreshes");
  });

  test("killing the VIP owner moves the VIP, the UI follows, and quorum-breaking demotions are refused", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await openCluster(page, "line-3");
    const owner = holders()[0];
    const [first, ms] = lab("failover", owner, VIP).split(" ");
    console.log(`VIP failover after killing ${owner}: ${ms} ms (first taken over by ${first})`);
    // Two backups of equal priority may both take over for an advertisement or two; then the
    // higher address wins and exactly one holds it.
    await expect.poll(() => holders().filter((n) => n !== owner).length, { timeout: 5_000 }).toBe(1);
    const newOwner = holders().filter((n) => n !== owner)[0];

    // The dead node's last claim does not outweigh the new owner's fresher one: from the power cut
    // until the dead node is offline, the status never says "held by 2 nodes"; meanwhile the dead
    // node is shown as silent (heartbeat overdue) before it is swept offline.
    const clusterId = new URL(page.url()).pathname.split("/").pop()!;
    const dead = `edge-${owner.slice(1)}`;
    const reasons: string[] = [];
    let sawSilent = false;
    for (const until = Date.now() + 20_000; Date.now() < until;) {
      const d = (await api(page.request, "get_cluster", { id: clusterId })).data;
      reasons.push(d.summary.reason);
      const m = d.members.find((x: { hostname: string }) => x.hostname === dead);
      sawSilent ||= m.silent;
      if (!m.online) break;
      await page.waitForTimeout(250);
    }
    expect(reasons.filter((r) => r.includes("is held by"))).toEqual([]);
    expect(sawSilent, `reasons seen: ${[...new Set(reasons)].join(" | ")}`).toBe(true);

    await expect(page.getByTestId("vip-owner")).toHaveText(`edge-${newOwner.slice(1)}`, { timeout: 30_000 });
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Degraded", { timeout: 30_000 });
    await expect(page.getByTestId("cluster-reason")).toContainText("1 of 3 managers down: quorum holds", { timeout: 30_000 });

    // With one of three managers gone, demoting another would leave 1 of 2: refused, with the reason.
    const other = ["n1", "n2", "n3"].find((n) => n !== owner && n !== newOwner)!;
    const member = page.locator(`[data-testid="member"][data-hostname="edge-${other.slice(1)}"]`);
    await expect(member.getByRole("button", { name: "Demote" })).toBeVisible();
    // Wait until the managers themselves see the dead one as unreachable.
    // (While the swarm elects a new leader, manager calls fail: keep asking.)
    const sawUnreachable = () => {
      try {
        return lab("docker", newOwner, "node", "ls", "--format", "{{.ManagerStatus}}").includes("Unreachable");
      } catch {
        return false;
      }
    };
    await expect.poll(sawUnreachable, { timeout: 60_000 }).toBe(true);
    await member.getByRole("button", { name: "Demote" }).click();
    await expect(page.getByTestId("toast").last()).toContainText("would lose quorum");
    expect(lab("docker", newOwner, "node", "inspect", `edge-${other.slice(1)}`, "--format", "{{.Spec.Role}}")).toBe("manager");

    lab("revive", owner);
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 90_000 });
    expect(holders()).toHaveLength(1);
  });

  test("overlay networks: created from the pools, listed, refused while in use, deleted when unused", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await openCluster(page, "line-3");
    // Any manager answers for the swarm (the leader may have moved in the failover test).
    const onSwarm = (...args: string[]) => {
      for (const n of ["n1", "n2", "n3"]) {
        try {
          return lab("docker", n, ...args);
        } catch {
          /* next manager */
        }
      }
      throw new Error(`no manager answered ${args.join(" ")}`);
    };

    await page.getByLabel("Network name").fill("backend");
    await page.getByLabel("Subnet (optional)").fill("10.99.0.0/24");
    await page.getByRole("button", { name: "Create network" }).click();
    await expect(page.getByTestId("error-network_subnet")).toContainText("inside the cluster's address pools");
    await page.getByLabel("Subnet (optional)").fill("");
    await page.getByRole("button", { name: "Create network" }).click();
    await expect(page.getByTestId("toast").last()).toContainText("Network created.");
    const row = page.locator('[data-testid="network"][data-name="backend"]');
    await expect(row).toBeVisible({ timeout: 20_000 });
    await expect(row.getByTestId("network-subnet")).toContainText("10.200.");
    expect(onSwarm("network", "inspect", "backend", "--format", "{{.Driver}} {{.Scope}} {{.Attachable}}")).toBe("overlay swarm true");
    expect(onSwarm("network", "inspect", "backend", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}")).toMatch(/^10\.200\.\d+\.0\/24$/);

    await page.getByLabel("Network name").fill("secure");
    await page.getByLabel("Encrypted").check();
    await page.getByRole("button", { name: "Create network" }).click();
    await expect(page.locator('[data-testid="network"][data-name="secure"]')).toBeVisible({ timeout: 20_000 });
    expect(onSwarm("network", "inspect", "secure", "--format", "{{json .Options}}")).toContain("encrypted");

    // In use: the delete button is disabled and the server refuses a direct call.
    onSwarm("service", "create", "-q", "--name", "api", "--network", "backend", "--replicas", "1", "--no-resolve-image", "flotilla-lab/busybox:1");
    await expect(row.getByTestId("network-services")).toHaveText("1", { timeout: 20_000 });
    await expect(row.getByRole("button", { name: "Delete" })).toBeDisabled();
    const clusterId = page.url().split("/").pop()!;
    const refused = await page.request.post("/api/delete_network", {
      form: { id: clusterId, name: "backend" },
      headers: { Accept: "application/json" },
    });
    expect(refused.status()).toBe(409);
    expect(await refused.text()).toContain("used by 1 service");

    onSwarm("service", "rm", "api");
    await expect(row.getByTestId("network-services")).toHaveText("0", { timeout: 20_000 });
    await row.getByRole("button", { name: "Delete" }).click();
    await page.getByTestId("confirm").click();
    await expect(row).toHaveCount(0, { timeout: 20_000 });
    await expect.poll(() => onSwarm("network", "ls", "--format", "{{.Name}}"), { timeout: 20_000 }).not.toContain("backend");
  });

  test("a node is removed from and added to the running cluster, and the cluster is edited", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await openCluster(page, "line-3");
    const onSwarm = (...args: string[]) => {
      for (const n of ["n1", "n2"]) {
        try {
          return lab("docker", n, ...args);
        } catch {
          /* next manager */
        }
      }
      throw new Error(`no manager answered ${args.join(" ")}`);
    };

    // Remove edge-3 (a manager; the other two are up, so quorum holds).
    const edge3 = page.locator('[data-testid="member"][data-hostname="edge-3"]');
    await edge3.getByRole("button", { name: "Remove" }).click();
    await expect(page.getByRole("dialog")).toContainText("edge-3 leaves the swarm");
    await page.getByTestId("confirm").click();
    await expect(edge3).toHaveCount(0, { timeout: 90_000 });
    await expect.poll(() => lab("docker", "n3", "info", "--format", "{{.Swarm.LocalNodeState}}")).toBe("inactive");
    await expect.poll(() => onSwarm("node", "ls", "--format", "{{.Hostname}}").split("\n").sort()).toEqual(["edge-1", "edge-2"]);
    expect(lab("ps", "n3")).not.toContain("keepalived");
    expect(holders()).not.toContain("n3");

    // Add it back as a worker with a label.
    await page.locator("#add-node").selectOption({ label: "edge-3" });
    await page.locator("#add-labels").fill("zone=c");
    await page.getByRole("button", { name: "Add node" }).click();
    await expect(edge3).toBeVisible({ timeout: 30_000 });
    await expect(edge3.getByTestId("role")).toHaveText("Worker", { timeout: 90_000 });
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 90_000 });
    // Labels are the step after the join: the node may show as a healthy worker a moment before.
    await expect.poll(() => onSwarm("node", "inspect", "edge-3", "--format", "{{.Spec.Role}} {{json .Spec.Labels}}"),
      { timeout: 30_000 }).toBe('worker {"zone":"c"}');
    await expect.poll(() => lab("ps", "n3")).toContain("keepalived");

    // Edit: a new name and a slower advertisement interval reach every KeepAlived.
    await page.getByTestId("edit-cluster").click();
    await expect(page.getByLabel("Cluster name")).toHaveValue("line-3");
    await expect(page.getByLabel("Synctime (seconds)")).toHaveValue("0.1");
    await page.getByLabel("Cluster name").fill("line 3");
    await expect(page.getByLabel("Cluster name")).toHaveValue("line 3");
    await page.getByTestId("edit-cluster-form").getByRole("button", { name: "Save" }).click();
    await expect(page.getByTestId("error-edit_name")).toContainText("letters, digits");
    await page.getByLabel("Cluster name").fill("line-3b");
    await page.getByLabel("Synctime (seconds)").fill("0.2");
    await expect(page.getByLabel("Cluster name")).toHaveValue("line-3b");
    await expect(page.getByLabel("Synctime (seconds)")).toHaveValue("0.2");
    await page.getByTestId("edit-cluster-form").getByRole("button", { name: "Save" }).click();
    await expect(page.getByTestId("cluster-name")).toHaveText("line-3b");
    await expect(page.getByTestId("vip-interval")).toHaveText("VRRPv3, advertisement every 0.2 s.");
    for (const n of ["n1", "n2", "n3"]) {
      await expect.poll(() => lab("keepalived-conf", n), { timeout: 60_000 }).toContain("advert_int 0.20");
    }
    await expect(page.getByTestId("progress")).toHaveCount(0, { timeout: 30_000 });
    await page.getByTestId("edit-cluster").click();
    await page.getByLabel("Cluster name").fill("line-3");
    await page.getByTestId("edit-cluster-form").getByRole("button", { name: "Save" }).click();
    await expect(page.getByTestId("cluster-name")).toHaveText("line-3");
  });

  test("deleting the cluster leaves standalone nodes: no swarm, no KeepAlived, no VIP", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await openCluster(page, "line-3");
    await page.getByTestId("delete-cluster").click();
    await expect(page.getByRole("dialog")).toContainText("leaves the swarm");
    await page.getByTestId("confirm").click();
    await expect(page.getByTestId("cluster-gone")).toBeVisible({ timeout: 120_000 });
    for (const n of ["n1", "n2", "n3"]) {
      expect(lab("docker", n, "info", "--format", "{{.Swarm.LocalNodeState}}")).toBe("inactive");
    }
    expect(holders()).toEqual([]);
    for (const n of ["n1", "n2", "n3"]) expect(lab("ps", n)).not.toContain("keepalived");
    await page.goto("/clusters");
    await expect(page.getByTestId("empty-state")).toBeVisible();
  });
});

test.describe.serial("VIP on nodes with a healthy local task", () => {
  test.setTimeout(240_000);
  const WEB_VIP = "10.77.0.101";
  const webHolders = () => lab("vip-holders", WEB_VIP).split("\n").filter((l) => l.length > 0);

  test("a VIP that requires a local port only lives where a host-mode published task answers", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await removeLeftoverClusters(page.request);
    await page.goto("/clusters/new");
    await hydrated(page);
    await page.getByLabel("Cluster name").fill("web");
    await page.locator("#field-vip-enabled").check();
    await page.locator("#vip-address-0").fill(`${WEB_VIP}/24`);
    await page.locator("#vip-track_port-0").fill("http");
    await page.getByTestId("next").click();
    await expect(page.getByTestId("error-vips.0.track_port")).toContainText("1 to 65535");
    await page.locator("#vip-track_port-0").fill("8080");
    await page.getByTestId("next").click();
    for (const [host, zone] of [["edge-1", "a"], ["edge-2", "b"], ["edge-3", "c"]]) {
      await page.getByLabel(`Include ${host}`).check();
      await page.getByLabel(`Role of ${host}`).selectOption("manager");
      await page.getByLabel(`Labels of ${host}`).fill(`zone=${zone}`);
    }
    await page.getByTestId("create-cluster").click();
    await expect(page.getByTestId("cluster-name")).toHaveText("web");
    // Built, but nothing answers on 8080 yet: nobody may hold the VIP.
    await expect(page.getByTestId("cluster-reason")).toContainText(`VIP ${WEB_VIP}/24 has no owner`, { timeout: 150_000 });
    expect(webHolders()).toEqual([]);

    // A global service published in host mode (dnsrr: this lab has no IPVS) on zones a and b only.
    lab("docker", "n1", "service", "create", "-q", "--name", "web", "--mode", "global", "--endpoint-mode", "dnsrr",
      "--publish", "mode=host,target=8080,published=8080", "--constraint", "node.labels.zone!=c",
      "--no-resolve-image", "flotilla-lab/busybox:1", "httpd", "-f", "-p", "8080");
    await expect.poll(webHolders, { timeout: 90_000 }).toHaveLength(1);
    const holder = webHolders()[0];
    expect(["n1", "n2"]).toContain(holder);
    await expect(page.getByTestId("vip-owner")).toHaveText(`edge-${holder.slice(1)}`, { timeout: 20_000 });

    // The holder dies: the VIP goes to the other node with the service, never to edge-3.
    lab("failover", holder, WEB_VIP);
    await expect.poll(() => webHolders().filter((n) => n !== holder).length, { timeout: 5_000 }).toBe(1);
    const next = webHolders().filter((n) => n !== holder)[0];
    expect(next).not.toBe("n3");
    expect(["n1", "n2"]).toContain(next);
    lab("revive", holder);
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 120_000 });
    await expect.poll(webHolders, { timeout: 5_000 }).toEqual([next]);

    // Clean up through the panel.
    lab("docker", next, "service", "rm", "web");
    await page.getByTestId("delete-cluster").click();
    await page.getByTestId("confirm").click();
    await expect(page.getByTestId("cluster-gone")).toBeVisible({ timeout: 120_000 });
    expect(webHolders()).toEqual([]);
  });
});
