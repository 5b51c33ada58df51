import { expect, test } from "@playwright/test";
import { job, markNoReload, stillNoReload } from "./helpers";

test.describe.configure({ mode: "serial" });

// A rule that fires while any run is in flight: the quickest real condition to
// drive from a test (the engine measures it; nothing here is simulated).
const RULE = "e2e_busy";

test.beforeAll(async ({ request }) => {
  const put = await request.put(`/api/alerts/rules/${RULE}`, {
    data: {
      kind: "active_workflows",
      threshold: 0,
      for_secs: 0,
      severity: "critical",
      description: "Fires while any run is in flight (end-to-end test).",
    },
  });
  expect([200, 201]).toContain(put.status());
});

test("an alert's banner appears and disappears live", async ({ page, request }) => {
  await page.goto("/workflows");
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
  const banner = page.getByTestId("alert-banner");
  await expect(banner).toHaveCount(0);
  await markNoReload(page);

  const created = await request.post("/api/jobs", { data: job("Long Haul", 1500) });
  expect(created.status()).toBe(201);
  const runId: string = (await created.json()).run_id;

  await expect(banner).toBeVisible();
  await expect(banner).toHaveAttribute("data-severity", "critical");
  await expect(banner.locator(`li[data-rule=${RULE}]`)).toContainText(/workflows? (is|are) running/);
  // The server renders it too: the HTML has it without JavaScript.
  const html = await (await request.get("/steps")).text();
  expect(html).toContain('data-testid="alert-banner"');
  await page.screenshot({ path: "screenshots/desktop-alert-banner.png", fullPage: true });

  // The run ends, the alert resolves, and the banner goes without a reload.
  await expect
    .poll(async () => (await (await request.get(`/api/runs/${runId}`)).json()).status, { timeout: 30_000 })
    .toBe("Completed");
  await expect(banner).toHaveCount(0);
  await stillNoReload(page);
});

test("the alerts page shows rules, state and history, and turns a rule off", async ({ page, request }) => {
  await page.goto("/alerts");
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
  const row = page.getByTestId("alert-rules").locator(`tr[data-rule=${RULE}]`);
  await expect(row).toContainText("active workflows > 0");
  await expect(page.getByTestId("alert-rules").locator("tr[data-rule=success_rate]")).toContainText("success rate < 95%");
  const history = page.getByTestId("alert-history");
  await expect(history.locator("tr", { hasText: RULE })).toHaveCount(2); // inactive → firing → resolved
  await expect(history.locator("tr", { hasText: RULE }).first()).toContainText("resolved");
  await page.screenshot({ path: "screenshots/desktop-alerts.png", fullPage: true });

  const toggle = row.getByTestId("rule-toggle");
  await expect(toggle).toHaveText("Enabled");
  await toggle.click();
  await expect(toggle).toHaveText("Disabled");
  expect((await (await request.get(`/api/alerts/rules/${RULE}`)).json()).enabled).toBe(false);
});
