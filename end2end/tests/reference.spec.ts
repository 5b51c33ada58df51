import { expect, test } from "@playwright/test";

// The API reference at /api/docs: Swagger UI served by the server itself
// (its scripts under a policy that allows no other source) renders every
// operation of /api/openapi.json, and one of them opens with the guide's
// example job.

test("the API reference lists every operation, offline", async ({ page, request }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  const elsewhere: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith("http://127.0.0.1")) elsewhere.push(r.url());
  });

  const doc = await (await request.get("/api/openapi.json")).json();
  const operations = Object.values(doc.paths as Record<string, object>).reduce(
    (n: number, item) => n + Object.keys(item).length,
    0,
  );
  expect(operations).toBeGreaterThan(40);

  await page.goto("/api/docs");
  await expect(page.locator(".opblock")).toHaveCount(operations, { timeout: 15_000 });
  await expect(page.locator(".info .title")).toContainText("Shiioo");

  await page.locator("#operations-jobs-submit_job .opblock-summary").click();
  await expect(page.locator("#operations-jobs-submit_job")).toContainText("Monthly Report Generation");
  await expect(page.locator("#operations-jobs-submit_job")).toContainText("operator");
  await page.screenshot({ path: "screenshots/api-reference.png", fullPage: false });

  expect(errors).toEqual([]);
  expect(elsewhere).toEqual([]);
});
