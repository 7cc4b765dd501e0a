import { expect, test } from "@playwright/test";
import { ADMIN_PASSWORD, hydrated, login } from "./helpers";

const GOOD = [
  "services:",
  "  web:",
  "    image: registry.lab:5000/flotilla/hello:1",
  "    deploy:",
  "      replicas: 2",
  "  once:",
  "    image: busybox",
  "    deploy:",
  "      mode: replicated-job",
  "      replicas: 3",
  "",
].join("\n");

test.describe.serial("library", () => {
  test("a model and a version are added; a bad compose file is refused line by line, inline", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    await hydrated(page);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Library" }).click();
    await expect(page).toHaveURL(/\/library$/);

    const form = page.getByTestId("new-app-form");
    await form.getByLabel("Name").fill("Defect finder");
    await form.getByLabel("Kind").selectOption("model");
    await form.getByLabel("Model format").fill("ONNX");
    await form.getByLabel("Description").fill("Finds scratches on the line camera");
    await page.getByTestId("create-app").click();
    const card = page.locator('[data-testid="app-card"][data-name="Defect finder"]');
    await expect(card.getByTestId("app-kind")).toHaveText("model: onnx");
    await expect(card).toContainText("No versions yet.");

    // The same name again (other case) is refused on the name field, by the server.
    await form.getByLabel("Name").fill("defect FINDER");
    await page.getByTestId("create-app").click();
    await expect(page.getByTestId("error-name")).toContainText("already");

    await card.getByTestId("add-version").click();
    const versionForm = card.getByTestId("new-version-form");
    await versionForm.getByLabel("Version").fill("1.0.0");
    await versionForm.getByLabel("Compose file").fill(
      "services:\n  web:\n    image: busybox\n    build: .\n    networks: [back]\n",
    );
    const errors = versionForm.getByTestId("error-compose");
    await expect(errors).toContainText("line 4: `build` is not supported by Swarm");
    await expect(errors).toContainText("uses network back, which is not declared under networks");
    await versionForm.getByLabel("Compose file").fill(GOOD);
    await expect(errors).toHaveCount(0);
    await versionForm.getByTestId("save-version").click();

    const row = card.locator('[data-testid="version-row"][data-version="1.0.0"]');
    await expect(row).toContainText("web (replicated ×2) registry.lab:5000/flotilla/hello:1");
    await expect(row).toContainText("once (replicated-job ×3) busybox");
    await row.getByRole("button", { name: "Compose file" }).click();
    await expect(card.getByTestId("compose-text")).toContainText("mode: replicated-job");
  });

  test("the server refuses what the browser would: bad compose over the API is a 422 naming the line", async ({ page }) => {
    await login(page, "admin", ADMIN_PASSWORD);
    const lib = await (await page.request.post("/api/library", { headers: { Accept: "application/json" } })).json();
    const app = lib.data.find((a: { name: string }) => a.name === "Defect finder");
    const answer = await page.request.post("/api/add_app_version", {
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      data: { app_id: app.id, draft: { version: "2.0.0", compose: "services:\n  web:\n    image: [busybox\n" } },
    });
    expect(answer.status()).toBe(422);
    expect(await answer.text()).toContain("line ");
  });
});
