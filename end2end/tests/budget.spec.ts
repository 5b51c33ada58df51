import { expect, test } from "@playwright/test";
import { pricedPort } from "../playwright.config";

// A run whose budget is spent asks to spend more: its page says so, the
// Approvals page shows the question with its reason, and a vote lets it
// finish. On the server whose simulated calls are priced.
const base = `http://127.0.0.1:${pricedPort}`;

test.use({ baseURL: base });

test("a spent budget holds the run until an approver lets it spend more", async ({ page, request }) => {
  const step = (id: string) => ({ id, action: { agent_task: { prompt: `do ${id}` } }, simulation: { latency_ms: [20, 20] } });
  const created = await request.post("/api/jobs", {
    data: {
      name: "Dear Research",
      workflow: { steps: [step("gather"), step("write")], dependencies: { write: ["gather"] } },
      budget: { max_cost_usd: 0.000001, on_exceed: "approval", approval: { approvers: ["dana"] } },
      execute: true,
    },
  });
  expect(created.status()).toBe(201);
  const runId: string = (await created.json()).run_id;
  // Once "gather" has spent the budget, "write" asks before it starts.
  await expect
    .poll(async () => {
      const list = await (await request.get("/api/approvals?status=pending")).json();
      return list.approvals.some((a: { run_id: string; reason?: string }) => a.run_id === runId && a.reason);
    }, { timeout: 30_000 })
    .toBe(true);

  await page.goto(`/traces/${runId}`);
  const held = page.getByTestId("trace-budget-ask");
  await expect(held).toContainText("before write");
  await expect(held).toContainText("budget exceeded");

  await page.goto("/approvals");
  const question = page.locator("article.approval[data-status=pending]").filter({ hasText: "Dear Research" });
  await expect(question).toContainText("budget spent before step");
  await expect(question.getByTestId("approval-reason")).toContainText("approve to let it spend");
  await page.getByTestId("voter-name").fill("dana");
  await question.getByTestId("approve").click();
  await expect(page.locator("article.approval[data-status=approved]").filter({ hasText: "Dear Research" })).toBeVisible();

  await expect
    .poll(async () => (await (await request.get(`/api/runs/${runId}`)).json()).status, { timeout: 30_000 })
    .toBe("Completed");
  await page.goto(`/traces/${runId}`);
  await expect(page.getByTestId("trace-spent")).toBeVisible();
  await expect(page.getByTestId("trace-budget-ask")).toHaveCount(0);
});
