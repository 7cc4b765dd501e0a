import { expect, Page, test } from "@playwright/test";
import { ADMIN_PASSWORD, hydrated, login, logout } from "./helpers";

/** Records Content-Security-Policy violations on every page the test opens. */
async function watchCsp(page: Page): Promise<string[]> {
  const violations: string[] = [];
  page.on("console", (msg) => {
    if (msg.text().includes("Content Security Policy")) violations.push(msg.text());
  });
  // Runs before any page script (and is not itself subject to the page's policy).
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      const w = window as unknown as { __csp?: string[] };
      (w.__csp ??= []).push(`${e.violatedDirective}: ${e.blockedURI}`);
    });
  });
  return violations;
}

async function pageViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);
}

test.describe.serial("security", () => {
  test("the hydrated app works under its Content-Security-Policy on every page", async ({ page }) => {
    const logged = await watchCsp(page);
    const response = await page.goto("/login");
    const csp = response?.headers()["content-security-policy"] ?? "";
    expect(csp).toContain("script-src 'self' 'nonce-");
    expect(response?.headers()["x-frame-options"]).toBe("DENY");
    if (page.url().startsWith("https:")) {
      expect(response?.headers()["strict-transport-security"]).toContain("max-age=");
    }
    await hydrated(page);
    await login(page, "admin", ADMIN_PASSWORD);

    const paths = ["/nodes", "/clusters", "/clusters/new", "/library", "/keys", "/users", "/audit", "/account"];
    await page.goto("/nodes");
    await hydrated(page);
    const nodes = page.locator('[data-testid="node-row"] a[href^="/nodes/"]');
    if (await nodes.count()) paths.push((await nodes.first().getAttribute("href")) ?? "/nodes");
    await page.goto("/clusters");
    await hydrated(page);
    // A cluster page too: build a one-node cluster when the earlier tests left none.
    let built = "";
    const clusters = page.locator('[data-testid="cluster-row"] a[href^="/clusters/"]');
    if ((await clusters.count()) === 0) {
      const nodes = await (await page.request.post("/api/list_nodes", { headers: { Accept: "application/json" } })).json();
      const node = nodes.data.page.rows.find((n: { hostname: string }) => n.hostname === "edge-1");
      const created = await page.request.post("/api/create_cluster", {
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        data: {
          draft: {
            definition: {
              name: "csp-check", volumes: false, vip_enabled: false, vips: [],
              synctime: "0.1", pools: ["10.200.0.0/16"], subnet_size: "24", data_path_port: "4789", listen_port: "2377",
            },
            members: [{ node_id: node.id, role: "manager", labels: "", interface: "eth0", vip: false }],
          },
        },
      });
      expect(created.status(), await created.text()).toBe(200);
      built = await created.json();
      await page.reload();
      await expect(page.locator('[data-testid="cluster-row"][data-name="csp-check"]')).toHaveAttribute("data-health", "Healthy", { timeout: 60_000 });
    }
    const clusterPath = (await clusters.first().getAttribute("href")) ?? "/clusters";
    paths.push(clusterPath, `${clusterPath}/install`);
    for (const path of paths) {
      process.stdout.write(`CSP check: ${path}\n`);
      await page.goto(path);
      await hydrated(page);
      // Client-side navigation and live updates keep working (the WASM runs).
      await page.getByRole("link", { name: "Nodes", exact: true }).click();
      await expect(page).toHaveURL(/\/nodes$/);
      expect(await pageViolations(page), path).toEqual([]);
    }
    expect(logged).toEqual([]);
    if (built) {
      const deleted = await page.request.post("/api/delete_cluster", {
        form: { id: built },
        headers: { Accept: "application/json" },
      });
      expect(deleted.status()).toBe(200);
      await page.goto(`/clusters/${built}`);
      await expect(page.getByTestId("cluster-gone")).toBeVisible({ timeout: 60_000 });
    }
  });

  test("machine ids are for Editors and up; Administrators manage nodes and accounts", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/nodes");
    await page.getByRole("link", { name: "edge-1" }).click();
    await expect(page.getByTestId("fact-machine-id")).not.toHaveText("hidden for your role");
    // A click before hydration does nothing: the page must be live first.
    await hydrated(page);
    await expect(page.getByRole("button", { name: "Allow re-enrolment" })).toBeVisible();
    // edge-1 is in a cluster after the cluster tests: it must leave before it can be removed.
    await page.getByRole("button", { name: "Allow re-enrolment" }).click();
    await expect(page.getByTestId("toast")).toContainText("Re-enrolment allowed");
    await expect(page.getByTestId("fact-re-enrolment")).toContainText("allowed for");

    // A Viewer sees the node but not the machine id, and no identity controls.
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByLabel("Username").fill("victor");
    await page.getByLabel("Initial password").fill("viewer-password-9");
    await page.getByRole("button", { name: "Add user" }).click();
    const victor = page.locator('[data-testid="user-row"][data-username="victor"]');
    await expect(victor).toHaveAttribute("data-state", "active");
    await logout(page);
    await login(page, "victor", "viewer-password-9");
    await page.goto("/nodes");
    await page.getByRole("link", { name: "edge-1" }).click();
    await expect(page.getByTestId("fact-machine-id")).toHaveText("hidden for your role");
    await expect(page.getByRole("button", { name: "Revoke token" })).toHaveCount(0);
    await logout(page);

    // Disabled: cannot sign in; enabled again: can.
    await login(page, "admin", ADMIN_PASSWORD);
    await page.getByRole("link", { name: "Users" }).click();
    await victor.getByRole("button", { name: "Disable" }).click();
    await page.getByTestId("confirm").click();
    await expect(victor).toHaveAttribute("data-state", "disabled");
    await logout(page);
    await page.goto("/login");
    await hydrated(page);
    await page.getByLabel("Username").fill("victor");
    await page.getByLabel("Password").fill("viewer-password-9");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).toHaveText("Wrong username or password.");
    await login(page, "admin", ADMIN_PASSWORD);
    await page.getByRole("link", { name: "Users" }).click();
    await victor.getByRole("button", { name: "Reset password" }).click();
    await page.getByTestId("reset-password-form").getByLabel("New password").fill("viewer-password-10");
    await page.getByRole("button", { name: "Set victor's password" }).click();
    await expect(page.getByTestId("toast")).toContainText("Password reset");
    await victor.getByRole("button", { name: "Enable" }).click();
    await expect(victor).toHaveAttribute("data-state", "active");
    await logout(page);
    await login(page, "victor", "viewer-password-10");
  });
});
