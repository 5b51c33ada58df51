import { expect, test } from "@playwright/test";
import { job, markNoReload, runJob, stillNoReload } from "./helpers";

const XSS = "<img src=x onerror=alert(1)>";

test.describe.configure({ mode: "serial" });

test.beforeAll(async ({ request }) => {
  // History for every page: a quick workflow, a failing one, and a job whose
  // name is an XSS attempt.
  await runJob(request, job("Quarterly Review", 20));
  await runJob(request, job("Quarterly Review", 20));
  const failing = job("Broken Pipeline", 10);
  (failing.workflow.steps[1] as any).simulation = { latency_ms: [10, 10], failure_rate: 1.0 };
  (failing.workflow.steps[1] as any).retry_policy = { max_attempts: 2, backoff_secs: 0.01 };
  await runJob(request, failing);
  await runJob(request, job(XSS, 10));
});

test.describe("server-rendered with JavaScript off", () => {
  test.use({ javaScriptEnabled: false });

  test("every page has its data in the HTML", async ({ page }) => {
    await page.goto("/workflows");
    await expect(page.getByTestId("workflows-table").locator("tr[data-workflow=quarterly_review]")).toContainText("2");
    // Two runs make a trend line; one run is a dot, not an empty cell.
    await expect(page.locator("tr[data-workflow=quarterly_review] svg.sparkline")).toHaveAttribute("aria-label", /^2 runs, from /);
    const single = page.locator("tr[data-workflow=broken_pipeline] svg.sparkline");
    await expect(single).toHaveAttribute("aria-label", /^1 run, /);
    await expect(single.locator("circle")).toHaveCount(1);
    await page.goto("/run");
    await expect(page.locator(".jobs li").filter({ hasText: "Broken Pipeline" })).toContainText("1 run · created");
    await page.goto("/steps");
    await expect(page.getByTestId("steps-table").locator("tr[data-step=generate_charts]").first()).toBeVisible();
    await page.goto("/traces");
    await expect(page.locator("table.table tbody tr").first()).toBeVisible();
    await page.goto("/metrics");
    await expect(page.getByTestId("counters-table")).toContainText("workflow_executions_total");
    await page.goto("/workflows/quarterly_review");
    await expect(page.locator(".bars .bar-row")).toHaveCount(4);
    await expect(page.locator(".critical-path li")).toHaveCount(4);
    await page.goto("/");
    await expect(page.getByTestId("health-executions")).not.toHaveText("0");
  });

  test("a trace shows its waterfall, attempts, error and DAG", async ({ page, request }) => {
    const list = await (await request.get("/api/analytics/traces?workflow_id=broken_pipeline")).json();
    const runId = list.traces[0].run_id;
    await page.goto(`/traces/${runId}`);
    await expect(page.locator(".wf-row")).toHaveCount(2 + 1 + 2); // fetch, 2 attempts, 2 skipped
    await expect(page.locator(".wf-error").first()).toContainText("simulated failure");
    await expect(page.locator("svg.dag .node")).toHaveCount(4);
    await expect(page.locator(".wf-row.bottleneck").first()).toBeVisible();
  });
});

test("a job named like markup renders as text", async ({ page }) => {
  let dialogs = 0;
  page.on("dialog", async (d) => {
    dialogs++;
    await d.dismiss();
  });
  await page.goto("/traces");
  await expect(page.locator("table.table").getByText(XSS).first()).toBeVisible();
  await page.goto("/run");
  await expect(page.locator(".jobs").getByText(XSS).first()).toBeVisible();
  await expect(page.locator("img[src=x]")).toHaveCount(0);
  expect(dialogs).toBe(0);
});

test("a workflow started from the form grows live without a reload", async ({ page, request }) => {
  await page.goto("/");
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
  const executions = await page.getByTestId("health-executions").textContent();
  await page.locator("a.run-link").click();
  await expect(page).toHaveURL("/run");
  await markNoReload(page);
  const body = JSON.stringify(job("Live Demo", 700), null, 2);
  await page.getByTestId("job-json").fill(body);
  await page.getByTestId("submit-job").click();
  await expect(page).toHaveURL(/\/traces\/[0-9A-Z]{26}$/);
  // Progress advances and the waterfall fills in, pushed over the WebSocket.
  const progress = page.getByTestId("trace-progress");
  await expect(progress).toHaveText(/^(0|25)%$/);
  expect(await page.locator(".wf-bar").count()).toBeLessThan(3);
  await expect(progress).toHaveText("50%", { timeout: 10_000 });
  await expect(page.locator(".wf-bar")).toHaveCount(4, { timeout: 10_000 });
  await expect(progress).toHaveText("100%", { timeout: 10_000 });
  await expect(page.locator(".badge").first()).toHaveText("Completed");
  await stillNoReload(page);
  // Back on the overview, the counters moved without a reload either.
  await page.locator("nav.nav").getByRole("link", { name: "Overview" }).click();
  await expect(page.getByTestId("health-executions")).not.toHaveText(executions ?? "");
  await stillNoReload(page);
});

test("the overview shows a run's progress bar as it runs", async ({ page, request }) => {
  await page.goto("/");
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
  await markNoReload(page);
  const created = await (await request.post("/api/jobs", { data: job("Progress Bar", 600) })).json();
  const row = page.locator(`li[data-run="${created.run_id}"]`);
  await expect(row).toBeVisible({ timeout: 10_000 });
  const bar = row.locator("[role=progressbar]");
  await expect(bar).toHaveAttribute("aria-valuenow", /^(25|50|75)$/, { timeout: 10_000 });
  await expect(row).toHaveCount(0, { timeout: 15_000 });
  await stillNoReload(page);
});

test("invalid jobs are explained inline", async ({ page }) => {
  await page.goto("/run");
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
  await page.getByTestId("job-json").fill('{"name": "Loop", "workflow": {"steps": [{"id": "a", "action": {"agent_task": {"prompt": "p"}}}], "dependencies": {"a": ["a"]}}, "execute": true}');
  await page.getByTestId("submit-job").click();
  await expect(page.getByTestId("job-error")).toContainText("depends on itself");
  await expect(page.getByTestId("job-error")).toContainText("workflow.dependencies.a[0]");
  await page.getByTestId("job-json").fill("{not json");
  await page.getByTestId("submit-job").click();
  await expect(page.getByTestId("job-error")).toContainText("invalid_json");
});

test("filters narrow the traces and steps", async ({ page }) => {
  await page.goto("/traces");
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
  await page.getByTestId("traces-status-filter").selectOption("Failed");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/status=Failed/);
  const badges = page.locator("table.table tbody .badge");
  await expect(badges.first()).toHaveText("Failed");
  for (const text of await badges.allTextContents()) expect(text).toBe("Failed");
  await page.goto("/steps");
  // Choose once the page is hydrated and live, as a person would.
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
  await page.getByTestId("steps-workflow-filter").selectOption("quarterly_review");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/workflow_id=quarterly_review/);
  const workflows = await page.locator("[data-testid=steps-table] tbody tr td:nth-child(2)").allTextContents();
  expect(workflows.length).toBe(4);
  for (const w of workflows) expect(w).toBe("quarterly_review");
  // Sorting by a column is a link: it works with the keyboard too.
  await page.getByRole("link", { name: "p95" }).focus();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/sort=p95/);
});

for (const viewport of [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
]) {
  test(`screenshots of every page (${viewport.name})`, async ({ page, request }) => {
    // Eleven full-page screenshots in software rendering take most of a minute.
    test.setTimeout(180_000);
    await page.setViewportSize({ width: viewport.width, height: viewport.height });
    const run = (await (await request.get("/api/analytics/traces?workflow_id=quarterly_review&limit=1")).json()).traces[0].run_id;
    const pages = [
      ["overview", "/"],
      ["workflows", "/workflows"],
      ["workflow", "/workflows/quarterly_review"],
      ["steps", "/steps"],
      ["traces", "/traces"],
      ["trace", `/traces/${run}`],
      ["metrics", "/metrics"],
      ["run", "/run"],
      ["routines", "/routines"],
      ["approvals", "/approvals"],
      ["alerts", "/alerts"],
    ];
    for (const [name, path] of pages) {
      await page.goto(path);
      await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
      // The page's own menu entry is in sight, also in the phone's sideways-scrolling row.
      const current = page.locator('.navs [aria-current="page"]');
      if ((await current.count()) > 0) await expect(current).toBeInViewport({ ratio: 1 });
      await page.screenshot({ path: `screenshots/${viewport.name}-${name}.png`, fullPage: true });
    }
  });
}

test("an approval is voted from the dashboard and its run finishes", async ({ page, request }) => {
  const quick = { latency_ms: [10, 10] };
  const body = {
    name: "Needs Sign Off",
    workflow: {
      steps: [
        { id: "prepare", action: { agent_task: { prompt: "p" } }, simulation: quick },
        { id: "sign_off", action: { manual_approval: { approvers: ["alice", "bob"], quorum: { count: 1 } } } },
        { id: "publish", action: { agent_task: { prompt: "p" } }, simulation: quick },
      ],
      dependencies: { sign_off: ["prepare"], publish: ["sign_off"] },
    },
    execute: true,
  };
  const created = await (await request.post("/api/jobs", { data: body })).json();
  await page.goto("/approvals");
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
  const pending = page.locator("article.approval[data-status=pending]").filter({ hasText: "Needs Sign Off" });
  await expect(pending).toBeVisible({ timeout: 10_000 });
  await page.getByTestId("voter-name").fill("mallory");
  await pending.getByTestId("approve").click();
  await expect(pending.locator(".error")).toContainText("not an approver");
  await page.getByTestId("voter-name").fill("alice");
  await pending.getByTestId("approve").click();
  const approved = page.locator("article.approval[data-status=approved]").filter({ hasText: "Needs Sign Off" });
  await expect(approved).toBeVisible();
  await expect(approved.locator(".vote.yes")).toContainText("alice");
  await expect
    .poll(async () => (await (await request.get(`/api/runs/${created.run_id}`)).json()).status)
    .toBe("Completed");
  // The run's trace shows the approval as a completed step.
  await page.goto(`/traces/${created.run_id}`);
  await expect(page.locator(".wf-row[data-step=sign_off] .wf-bar")).toHaveAttribute("data-status", "Completed");
});

test("a routine is enabled from the dashboard", async ({ page, request }) => {
  const created = await request.post("/api/routines", {
    data: { name: "Midnight Digest", cron: "0 0 * * *", timezone: "Europe/Paris", workflow: job("Midnight Digest", 10).workflow, enabled: false },
  });
  expect(created.status()).toBe(201);
  const routine = await created.json();
  await page.goto("/routines");
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
  const row = page.locator(`tr[data-routine="${routine.routine_id}"]`);
  await expect(row.getByTestId("routine-toggle")).toHaveText("Disabled");
  await row.getByTestId("routine-toggle").click();
  await expect(row.getByTestId("routine-toggle")).toHaveText("Enabled");
  const after = await (await request.get(`/api/routines/${routine.routine_id}`)).json();
  expect(after.enabled).toBe(true);
  expect(after.next_fires.length).toBe(5);
  const health = await (await request.get("/api/health/status")).json();
  expect(health.active_routines).toBeGreaterThanOrEqual(1);
});
