import { ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import path from "node:path";
import { APIRequestContext, expect, request as playwright, test } from "@playwright/test";
import { ADMIN_PASSWORD, api, call, hydrated, lab, labWith } from "./helpers";

// Two panel replicas on one PostgreSQL database with the lab's real agents, each given both
// replicas' URLs. A cluster creation started on replica A goes on after A is killed (SIGKILL),
// driven by replica B, without running again a step that was done; the agents move to B and
// their nodes stay online there; a browser on B shows all of it.
//
// `./dev test` provides the database (FLOTILLA_E2E_REPLICAS_DATABASE_URL), the release panel
// binary and the lab's certificate. The lab's agents keep their identity with the main panel
// under the default profile: here they enrol with the replicas under the profile "replicas",
// and go back to the main panel at the end.

const ROOT = path.resolve(__dirname, "../..");
const DATA = process.env.FLOTILLA_E2E_DATA_DIR ?? "";
const DATABASE_URL = process.env.FLOTILLA_E2E_REPLICAS_DATABASE_URL ?? "";
const REPLICAS = {
  a: { ui: "127.0.0.1:3010", agents: "10.77.0.1:3110" },
  b: { ui: "127.0.0.1:3011", agents: "10.77.0.1:3111" },
};
const NODES = ["n1", "n2", "n3"];
const PROFILE = { ...process.env, LAB_AGENT_PROFILE: "replicas", FLOTILLA_CA_FILE: `${DATA}/tls/ca.pem` };

type Name = keyof typeof REPLICAS;
const running: Partial<Record<Name, ChildProcess>> = {};

/** Starts replica `name` (the release panel) and waits until it answers. */
async function startReplica(name: Name): Promise<APIRequestContext> {
  const r = REPLICAS[name];
  const dir = path.join(DATA, `replica-${name}`);
  mkdirSync(dir, { recursive: true });
  const child = spawn(path.join(ROOT, "target/release/flotilla-panel"), [], {
    cwd: ROOT,
    stdio: ["ignore", openSync(path.join(dir, "panel.log"), "a"), openSync(path.join(dir, "panel.log"), "a")],
    env: {
      ...process.env,
      LEPTOS_ENV: "PROD", LEPTOS_OUTPUT_NAME: "flotilla", LEPTOS_SITE_ROOT: "target/site", LEPTOS_SITE_PKG_DIR: "pkg",
      LEPTOS_SITE_ADDR: r.ui,
      FLOTILLA_DATA_DIR: dir,
      FLOTILLA_DATABASE_URL: DATABASE_URL,
      FLOTILLA_KEY_FILE: path.join(DATA, "replicas.key"),
      FLOTILLA_TLS_CERT: `${DATA}/tls/panel.pem`,
      FLOTILLA_TLS_KEY: `${DATA}/tls/panel.key`,
      FLOTILLA_ADMIN_PASSWORD: ADMIN_PASSWORD,
      FLOTILLA_AGENT_LISTEN: r.agents,
      FLOTILLA_AGENT_URL: `https://${r.agents}`,
      FLOTILLA_LOG: "info,tower_http=warn",
    },
  });
  running[name] = child;
  // ./dev kills what a failed run leaves behind.
  writeFileSync(path.join(DATA, `replica-${name}.pid`), String(child.pid));
  const ctx = await playwright.newContext({ baseURL: `https://${r.ui}`, ignoreHTTPSErrors: true });
  await expect.poll(async () => {
    try {
      return (await ctx.get("/healthz")).status();
    } catch {
      return 0;
    }
  }, { timeout: 30_000, intervals: [200] }).toBe(200);
  return ctx;
}

async function signIn(ctx: APIRequestContext) {
  const answer = await call(ctx, "login", { username: "admin", password: ADMIN_PASSWORD });
  expect(answer.status(), await answer.text()).toBe(200);
}

async function onlineOn(ctx: APIRequestContext): Promise<string[]> {
  const page = (await api(ctx, "list_nodes", { status: "online" })).data.page;
  return (page.rows as { hostname: string }[]).map((n) => n.hostname).sort();
}

interface Step { title: string; status: string; attempts: number; started_at_ms: number | null; finished_at_ms: number | null }
interface Flow { id: string; status: string; steps: Step[] }

async function workflow(ctx: APIRequestContext, id: string): Promise<Flow | null> {
  return (await api(ctx, "get_cluster", { id })).data.workflow as Flow | null;
}

let a: APIRequestContext;
let b: APIRequestContext;
let clusterId = "";

test.describe.serial("panel replicas on PostgreSQL", () => {
  test.setTimeout(300_000);

  test.beforeAll(() => {
    expect(DATABASE_URL, "FLOTILLA_E2E_REPLICAS_DATABASE_URL (./dev test sets it)").not.toBe("");
  });

  test("the lab's agents, given both replicas, come online on both", async () => {
    a = await startReplica("a");
    b = await startReplica("b");
    await signIn(a);
    await signIn(b);
    const key = (await api(a, "create_key", { label: "replicas", expires_in_hours: "1", max_uses: "0" })).secret;
    lab("stop-agent", ...NODES);
    const urls = `https://${REPLICAS.a.agents},https://${REPLICAS.b.agents}`;
    labWith(PROFILE, "agents", urls, key, ...NODES);
    const all = ["edge-1", "edge-2", "edge-3"];
    await expect.poll(() => onlineOn(a), { timeout: 60_000 }).toEqual(all);
    await expect.poll(() => onlineOn(b), { timeout: 30_000 }).toEqual(all);
  });

  test("a cluster creation started on A finishes after A is killed, driven by B, no finished step again", async () => {
    const nodes = (await api(a, "list_nodes", {})).data.page.rows as { id: string; hostname: string }[];
    const member = (host: string) => ({
      node_id: nodes.find((n) => n.hostname === host)!.id, role: "manager", labels: "", interface: "eth0", vip: false,
    });
    clusterId = await api(a, "create_cluster", {
      draft: {
        definition: {
          name: "replicated", volumes: false, vip_enabled: false, vips: [], synctime: "0.1",
          pools: ["10.201.0.0/16"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
        },
        members: [member("edge-1"), member("edge-2"), member("edge-3")],
      },
    });
    // Kill A once it has finished at least one step and has more to do.
    let before = null as Flow | null;
    await expect.poll(async () => {
      before = await workflow(a, clusterId);
      const done = before?.steps.filter((s) => s.status === "done").length ?? 0;
      return done >= 1 && before!.status === "running" && done < before!.steps.length - 1;
    }, { timeout: 90_000, intervals: [250] }).toBe(true);
    running.a!.kill("SIGKILL");
    const doneBefore = before!.steps.filter((s) => s.status === "done");
    console.log(`A killed after ${doneBefore.length} of ${before!.steps.length} steps`);

    // B takes the workflow over when A's lease expires and finishes it.
    await expect.poll(async () => (await workflow(b, clusterId))?.status, { timeout: 180_000, intervals: [1_000] }).toBe("done");
    const after = (await workflow(b, clusterId))!;
    expect(after.id).toBe(before!.id);
    for (const [i, s] of before!.steps.entries()) {
      if (s.status !== "done") continue;
      expect(after.steps[i].started_at_ms, `step ${i + 1} (${s.title}) did not run again`).toBe(s.started_at_ms);
      expect(after.steps[i].attempts).toBe(s.attempts);
    }
    // The swarm is real: three managers, ready.
    const swarm = lab("docker", "n1", "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}");
    expect(swarm.split("\n").filter((l) => / Ready (Leader|Reachable)$/.test(l))).toHaveLength(3);
  });

  test("the agents moved to B: every node online there, and a browser on B shows it", async ({ page }) => {
    await expect.poll(() => onlineOn(b), { timeout: 60_000 }).toEqual(["edge-1", "edge-2", "edge-3"]);
    const base = `https://${REPLICAS.b.ui}`;
    await page.goto(`${base}/login`);
    await hydrated(page);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill(ADMIN_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByTestId("whoami")).toContainText("admin");
    await page.goto(`${base}/clusters/${clusterId}`);
    await hydrated(page);
    await expect(page.getByTestId("cluster-health")).toHaveAttribute("data-health", "Healthy", { timeout: 60_000 });
  });

  test.afterAll(async () => {
    if (b && clusterId) {
      await expect.poll(async () => (await call(b, "delete_cluster", { id: clusterId })).status(),
        { timeout: 60_000, intervals: [1_000] }).toBe(200);
      await expect.poll(async () => (await api(b, "list_clusters", {})).data.page.rows.length,
        { timeout: 180_000, intervals: [2_000] }).toBe(0);
    }
    labWith(PROFILE, "stop-agent", ...NODES);
    for (const child of Object.values(running)) {
      if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
    }
    // Back to the main panel, with the identity the agents had there (when they had one: this
    // spec may run alone).
    try {
      lab("start-agent", ...NODES);
    } catch (e) {
      console.log(`lab agents not restarted: ${(e as Error).message.split("\n")[0]}`);
    }
  });
});
