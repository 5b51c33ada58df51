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
