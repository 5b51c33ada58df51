import { expect, test } from "@playwright/test";
import { job, runJob } from "./helpers";

// The time-range picker on the Steps page: plain links that keep the range
// in the URL (they work without JavaScript), a chosen range narrows the
// statistics, and a range with nothing in it says so.

test.beforeAll(async ({ request }) => {
  await runJob(request, job("Ranged Report", 10));
});

for (const js of [true, false]) {
  test(`the range picker narrows the steps (JavaScript ${js ? "on" : "off"})`, async ({ browser }) => {
    const context = await browser.newContext({ javaScriptEnabled: js });
    const page = await context.newPage();
    await page.goto("/steps?workflow_id=ranged_report");
    await page.getByTestId("range-picker").getByText("1 hour").click();
    await expect(page).toHaveURL(/since=1h/);
    await expect(page).toHaveURL(/workflow_id=ranged_report/);
    await expect(page.locator('[data-since="1h"]')).toHaveAttribute("aria-current", "page");
    await expect(page.getByTestId("steps-table").locator("tbody tr").first()).toBeVisible();

    // A day that has not come yet: nothing in it.
    const from = new Date(Date.now() + 86_400_000).toISOString();
    const to = new Date(Date.now() + 2 * 86_400_000).toISOString();
    await page.goto(`/steps?since=${encodeURIComponent(from)}&until=${encodeURIComponent(to)}`);
    await expect(page.getByText("No step executed in this range")).toBeVisible();
    await page.getByTestId("range-picker").getByText("All time").click();
    await expect(page).not.toHaveURL(/since=/);
    await expect(page.getByTestId("steps-table")).toBeVisible();
    await context.close();
  });
}

test("the workflow page takes a range and draws each step by period", async ({ page }) => {
  await page.goto("/workflows/ranged_report");
  // Without a range: the heatmap of the last day, a row per step.
  const map = page.getByTestId("heatmap");
  await expect(map).toBeVisible();
  await expect(map.locator(".hm-row[data-step]")).toHaveCount(4);
  const columns = Number(await map.getAttribute("data-columns"));
  expect(columns).toBeGreaterThan(0);
  expect(columns).toBeLessThanOrEqual(60);
  await expect(map.locator('.hm-row[data-step="fetch_data"] .hm-cell')).toHaveCount(columns);
  await expect(map.locator('.hm-row[data-step="fetch_data"] .hm-cell.ran').first()).toBeVisible();

  // A range from the picker: kept in the URL, figures and map follow it.
  await page.getByTestId("range-picker").getByText("15 min").click();
  await expect(page).toHaveURL(/\/workflows\/ranged_report\?since=15m/);
  await expect(page.locator('[data-since="15m"]')).toHaveAttribute("aria-current", "page");
  await expect(page.getByTestId("workflow-p95")).toBeVisible();
  await expect(page.getByTestId("heatmap").locator(".hm-row[data-step]")).toHaveCount(4);

  // Nothing in a range to come.
  const from = new Date(Date.now() + 86_400_000).toISOString();
  const to = new Date(Date.now() + 2 * 86_400_000).toISOString();
  await page.goto(`/workflows/ranged_report?since=${encodeURIComponent(from)}&until=${encodeURIComponent(to)}`);
  await expect(page.getByTestId("heatmap-empty")).toBeVisible();
});

test("the timeline shows every run on one axis and grows live", async ({ page, request }) => {
  await page.goto("/timeline?since=15m");
  await expect(page.getByTestId("timeline")).toBeVisible();
  await expect(page.locator('.tl-group[data-workflow="ranged_report"] .tl-bar').first()).toBeVisible();

  // A run submitted now appears, as a bar in flight, without a reload.
  await page.evaluate(() => ((window as any).__noReload = true));
  const created = await request.post("/api/jobs", { data: job("Timeline Live", 2500) });
  expect(created.status()).toBe(201);
  const runId: string = (await created.json()).run_id;
  const bar = page.locator(`.tl-bar[data-run="${runId}"]`);
  await expect(bar).toBeVisible();
  await expect(page.locator('.tl-group[data-workflow="timeline_live"]')).toBeVisible();
  await expect(bar).toHaveAttribute("data-status", "Running");
  // In flight, its bar grows with the clock between updates.
  const width = async () => parseFloat(await bar.evaluate((e) => (e as HTMLElement).style.width));
  const first = await width();
  await expect.poll(width, { timeout: 5_000 }).toBeGreaterThan(first);
  // It ends, and its bar says so; a click opens its trace.
  await expect(bar).toHaveAttribute("data-status", "Completed", { timeout: 30_000 });
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
  await bar.click();
  await expect(page).toHaveURL(new RegExp(`/traces/${runId}`));
});
