import { expect, test } from "@playwright/test";
import { ADMIN_PASSWORD, AGENT_URL, hydrated, lab, login, logout } from "./helpers";

// One story over a real lab: three network namespaces, each with its own dockerd and agent.
test.describe.serial("walking skeleton", () => {
  let secret = "";

  test("a signed-out visitor is sent to the login page", async ({ page }) => {
    const response = await page.goto("/nodes");
    expect(response?.status()).toBeLessThan(400);
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  });

  test("a wrong password gives a clear message and no session", async ({ page, context }) => {
    await page.goto("/login");
    await hydrated(page);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).toHaveText("Wrong username or password.");
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === "flotilla_session")).toBeUndefined();
  });

  test("the administrator creates an enrolment key", async ({ page, context }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const cookie = (await context.cookies()).find((c) => c.name === "flotilla_session");
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe("Strict");

    await page.getByRole("link", { name: "Enrolment keys" }).click();
    // Inline validation: an empty name is refused before anything is sent.
    await page.getByTestId("create-key").click();
    await expect(page.getByTestId("error-label")).toContainText("Give the key a name");
    await page.getByLabel("Name").fill("lab e2e");
    // A key enrols one node unless told otherwise; the lab has three.
    await expect(page.getByLabel("Nodes it may enrol")).toHaveValue("1");
    await page.getByLabel("Nodes it may enrol").fill("three");
    await page.getByTestId("create-key").click();
    await expect(page.getByTestId("error-max_uses")).toContainText("how many nodes");
    await page.getByLabel("Nodes it may enrol").fill("3");
    await page.getByTestId("create-key").click();
    secret = (await page.getByTestId("enrolment-secret").innerText()).trim();
    expect(secret).toMatch(/^flt_ek_/);
    // The command to run on a node names the panel as agents reach it (the agent listener).
    await expect(page.getByTestId("agent-command")).toHaveText(
      `flotilla-agent --panel ${AGENT_URL} --enrolment-key ${secret}`,
    );
    await expect(page.locator('[data-testid="key-row"][data-label="lab e2e"]')).toHaveAttribute("data-state", "Active");
  });

  test("three lab nodes enrol and show up online with their real engines", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/nodes");
    await hydrated(page);
    lab("agents", AGENT_URL, secret);

    const rows = page.getByTestId("node-row");
    await expect(rows).toHaveCount(3, { timeout: 60_000 });
    for (const host of ["edge-1", "edge-2", "edge-3"]) {
      const row = page.locator(`[data-testid="node-row"][data-hostname="${host}"]`);
      await expect(row).toHaveAttribute("data-status", "Online");
      const engine = lab("docker", `n${host.slice(-1)}`, "version", "--format", "{{.Server.Version}}");
      await expect(row.getByTestId("engine")).toHaveText(engine);
    }
    await expect(page.getByTestId("node-count")).toHaveText("3 of 3 online");
    // The key is spent: a fourth machine could not enrol with it.
    await page.getByRole("link", { name: "Enrolment keys" }).click();
    const key = page.locator('[data-testid="key-row"][data-label="lab e2e"]');
    await expect(key).toHaveAttribute("data-state", "Used up");
    await expect(key.getByTestId("key-uses")).toHaveText("3 of 3");
  });

  test("the node page shows every fact", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/nodes");
    await page.getByRole("link", { name: "edge-1" }).click();
    await expect(page.getByTestId("node-name")).toHaveText("edge-1");
    // A click before hydration does nothing: the page must be live first.
    await hydrated(page);
    await expect(page.getByTestId("fact-firmware-version")).toHaveText("lab-1.0.0");
    await expect(page.getByTestId("fact-swarm-state")).toHaveText("inactive");
    await expect(page.getByTestId("interface").filter({ hasText: "10.77.0.11/24" })).toHaveCount(1);
    // Commands reach the agent and come back.
    await page.getByRole("button", { name: "Refresh facts" }).click();
    await expect(page.getByTestId("toast")).toContainText("Facts refreshed.");
  });

  test("the first page loads the main WASM and its own chunks; another page's code comes when it opens", async ({ page }) => {
    // What this document fetched, from the browser's own record (cache hits included).
    const wasm = async () =>
      (await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name)))
        .map((url) => /\/pkg\/([^/]+\.wasm)$/.exec(new URL(url).pathname)?.[1])
        .filter((f): f is string => f !== undefined);
    const loaded = async (route: string) => (await wasm()).some((f) => f.startsWith(`split___${route}_view_`));
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/nodes");
    // Live means the route's own code too: it arrives after the main module.
    await hydrated(page);
    expect(await wasm()).toContain("flotilla.wasm");
    expect(await loaded("nodes")).toBe(true);
    for (const other of ["keys", "cluster", "firmware", "install"]) expect(await loaded(other), other).toBe(false);

    // A page opened later fetches its chunk then, and is live: inline validation runs in it.
    await page.getByRole("link", { name: "Enrolment keys" }).click();
    await page.getByTestId("create-key").click();
    await expect(page.getByTestId("error-label")).toContainText("Give the key a name");
    expect(await loaded("keys")).toBe(true);
  });

  test("a node whose agent stops turns offline live, without a reload", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/nodes");
    await hydrated(page);
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    const edge2 = page.locator('[data-testid="node-row"][data-hostname="edge-2"]');
    await expect(edge2).toHaveAttribute("data-status", "Online");

    lab("stop-agent", "n2");
    // Three heartbeat periods (5 s) at most.
    await expect(edge2).toHaveAttribute("data-status", "Offline", { timeout: 15_000 });
    await expect(page.getByTestId("node-count")).toHaveText("2 of 3 online");
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);

    lab("start-agent", "n2");
    await expect(edge2).toHaveAttribute("data-status", "Online", { timeout: 30_000 });
    await expect(page.locator("[data-testid=node-row]")).toHaveCount(3);
  });

  test("search filters the node list", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/nodes");
    await hydrated(page);
    await page.getByLabel("Search nodes").fill("10.77.0.13");
    await expect(page.getByTestId("node-row")).toHaveCount(1);
    await expect(page.getByTestId("node-row")).toHaveAttribute("data-hostname", "edge-3");
    // The server searched: the URL holds the view, which a reload (or a shared link) shows again.
    await expect(page).toHaveURL(/\/nodes\?q=10\.77\.0\.13$/);
    await page.reload();
    await hydrated(page);
    await expect(page.getByTestId("node-row")).toHaveCount(1);
    await expect(page.getByLabel("Search nodes")).toHaveValue("10.77.0.13");
    await expect(page.getByTestId("node-count")).toHaveText("3 of 3 online");
    // The box follows the URL: the nav link to the plain list clears it, going back restores it.
    await page.getByRole("link", { name: "Nodes", exact: true }).click();
    await expect(page).toHaveURL(/\/nodes$/);
    await expect(page.getByTestId("node-row")).toHaveCount(3);
    await expect(page.getByLabel("Search nodes")).toHaveValue("");
    await page.goBack();
    await expect(page.getByTestId("node-row")).toHaveCount(1);
    await expect(page.getByLabel("Search nodes")).toHaveValue("10.77.0.13");
    await page.getByLabel("Status").selectOption("offline");
    await expect(page.getByTestId("page-info")).toHaveText("Nothing matches");
    await expect(page).toHaveURL(/status=offline/);
  });

  test("the node list is paged and sorted on the server", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.goto("/nodes?per_page=1&page=2");
    await hydrated(page);
    const rows = page.getByTestId("node-row");
    await expect(rows).toHaveCount(1);
    await expect(rows).toHaveAttribute("data-hostname", "edge-2");
    await expect(page.getByTestId("page-info")).toHaveText("2–2 of 3 · page 2 of 3");
    await page.getByTestId("page-next").click();
    await expect(page).toHaveURL(/page=3/);
    await expect(rows).toHaveAttribute("data-hostname", "edge-3");
    // The list is by name already: one click turns it around, back on the first page.
    await page.getByTestId("sort-name").click();
    await expect(page).toHaveURL(/sort=name&dir=desc&per_page=1$/);
    await expect(rows).toHaveAttribute("data-hostname", "edge-3");
    await expect(page.getByRole("columnheader", { name: "Name ▼" })).toHaveAttribute("aria-sort", "descending");
    // A hand-edited URL that makes no sense says which parameter is wrong.
    await page.goto("/nodes?page=zero");
    await expect(page.getByText("page: must be a whole number")).toBeVisible();
  });

  test("a Viewer sees everything and can change nothing", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByLabel("Username").fill("vera");
    await page.getByLabel("Initial password").fill("viewer-password-1");
    await page.getByRole("button", { name: "Add user" }).click();
    await expect(page.locator('[data-testid="user-row"][data-username="vera"]')).toContainText("Viewer");
    await logout(page);

    await login(page, "vera", "viewer-password-1");
    await expect(page.getByTestId("role")).toHaveText("Viewer");
    await expect(page.getByTestId("node-row")).toHaveCount(3);
    await page.getByRole("link", { name: "Enrolment keys" }).click();
    await expect(page.locator('[data-testid="key-row"][data-label="lab e2e"]')).toBeVisible();
    await expect(page.getByTestId("create-key-form")).toHaveCount(0);
    await expect(page.getByRole("button", { name: "Revoke" })).toHaveCount(0);

    // The server refuses even when the function is called directly with the Viewer's session.
    const direct = await page.request.post("/api/create_key", {
      form: { label: "sneaky", expires_in_hours: "1" },
      headers: { Accept: "application/json" },
    });
    expect(direct.status()).toBe(403);
    await page.reload();
    await expect(page.locator('[data-testid="key-row"][data-label="sneaky"]')).toHaveCount(0);
  });

  test("a user changes their own password", async ({ page }) => {
    await login(page, "vera", "viewer-password-1");
    await page.getByTestId("whoami").click();
    await page.getByLabel("Current password").fill("wrong-password");
    await page.getByLabel("New password", { exact: true }).fill("short");
    await page.getByRole("button", { name: "Change password" }).click();
    await expect(page.getByTestId("error-new")).toContainText("at least 10");
    await page.getByLabel("New password", { exact: true }).fill("viewer-password-2");
    await page.getByLabel("Repeat the new password").fill("viewer-password-2");
    await page.getByRole("button", { name: "Change password" }).click();
    await expect(page.getByTestId("error-current")).toHaveText("The current password is wrong.");
    await page.getByLabel("Current password").fill("viewer-password-1");
    await page.getByRole("button", { name: "Change password" }).click();
    await expect(page.getByTestId("toast")).toContainText("Password changed");
    await logout(page);
    await login(page, "vera", "viewer-password-2");
    // The audit log is not for a Viewer: no link, and the page says so.
    await expect(page.getByRole("link", { name: "Audit log" })).toHaveCount(0);
    await page.goto("/audit");
    await expect(page.getByRole("alert")).toContainText("Your role does not allow this.");
  });

  test("the audit log records who changed what, searched on the server", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await page.getByRole("link", { name: "Audit log" }).click();
    await hydrated(page);
    const rows = page.getByTestId("audit-row");
    // Newest first: the admin's own sign-in tops it.
    await expect(rows.first()).toHaveAttribute("data-action", "session.login");
    await expect(rows.first()).toContainText("admin");
    await page.getByLabel("Search the audit log").fill("lab e2e");
    await expect(page).toHaveURL(/\/audit\?q=lab%20e2e$/);
    await expect(rows).toHaveCount(1);
    await expect(rows.first()).toContainText("created an enrolment key");
    await expect(rows.first()).toContainText("admin");
    await page.getByLabel("Search the audit log").fill("vera");
    await expect(rows.filter({ hasText: "added a user" })).toHaveCount(1);
    await page.getByLabel("Order").selectOption("oldest");
    await expect(page).toHaveURL(/sort=oldest/);
    await expect(rows.first()).toHaveAttribute("data-action", "user.create");
  });
});
