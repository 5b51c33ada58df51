import { expect, test } from "@playwright/test";
import { job, runJob } from "./helpers";

// What the agents spent, on the dashboard: the Models page, tokens and cost
// columns, and each attempt's usage in the waterfall. The suite's agents
// are simulated: their figures must say so, and their cost is unknown, not $0.

let runId = "";

test.beforeAll(async ({ request }) => {
  runId = await runJob(request, job("Spend Report", 5));
});

test("the Models page lists the simulated model as simulated, with an unknown cost", async ({ page }) => {
  await page.goto("/models");
  const row = page.locator('[data-testid="models-table"] tr[data-provider="simulated"]');
  await expect(row).toBeVisible();
  await expect(row.locator(".tag.sim")).toHaveText("simulated");
  await expect(row).toContainText("unknown");
  await expect(page.getByTestId("models-simulated")).toBeVisible();
  // The range picker narrows it like every analytics page.
  await page.getByTestId("range-picker").getByText("15 min").click();
  await expect(page).toHaveURL(/\/models\?since=15m/);
  await expect(row).toBeVisible();
});

test("steps show their tokens, and each attempt its usage in the waterfall", async ({ page }) => {
  await page.goto("/steps?workflow_id=spend_report&sort=tokens&dir=desc");
  const header = page.getByTestId("steps-table").locator("th", { hasText: "Tokens" });
  await expect(header).toHaveAttribute("aria-sort", "descending");
  const first = page.getByTestId("steps-table").locator("tbody tr").first();
  await expect(first).toBeVisible();
  await page.goto(`/traces/${runId}`);
  const usage = page.getByTestId("wf-usage");
  await expect(usage).toHaveCount(4);
  await expect(usage.first()).toContainText(/\d+ tok · simulated/);
});

test("a run's page shows its OpenTelemetry trace id, the one its API answer gives", async ({ page, request }) => {
  const run = await (await request.get(`/api/runs/${runId}`)).json();
  expect(run.trace_id).toMatch(/^[0-9a-f]{32}$/);
  await page.goto(`/traces/${runId}`);
  await expect(page.getByTestId("trace-otel-id")).toHaveText(run.trace_id);
});

test("the overview says plainly that simulated calls have no price, rather than $0", async ({ page }) => {
  await page.goto("/");
  const card = page.locator('section[aria-labelledby="spend-title"]');
  await expect(card).toContainText("What the agents cost");
  await expect(card).toContainText("No priced agent call in the last 7 days");
  await expect(card).not.toContainText("$0");
});
