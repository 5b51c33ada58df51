import { expect, test } from "@playwright/test";
import { clusterPorts } from "../playwright.config";
import { markNoReload, stillNoReload } from "./helpers";

// Two nodes of one cluster on one PostgreSQL (playwright.config.ts starts
// them when scripts/test.sh passes SHIIOO_E2E_POSTGRES): the dashboard of
// node B shows, live, a run submitted to node A.
const nodeA = `http://127.0.0.1:${clusterPorts.a}`;
const nodeB = `http://127.0.0.1:${clusterPorts.b}`;

test.skip(!process.env.SHIIOO_E2E_POSTGRES, "needs SHIIOO_E2E_POSTGRES: a PostgreSQL for a cluster of two nodes");

test.use({ baseURL: nodeB });

test("the dashboard of one node shows, live, a run submitted to another", async ({ page, request }) => {
  // Each node says which it is.
  expect((await (await request.get(`${nodeA}/api/health/status`)).json()).node_id).toBe("e2e-a");
  expect((await (await request.get(`${nodeB}/api/health/status`)).json()).node_id).toBe("e2e-b");

  await page.goto("/");
  await expect(page.getByTestId("node-id")).toHaveText("e2e-b");
  // Both nodes hold a lease (health names them, once each has renewed).
  await expect
    .poll(async () => (await (await request.get(`${nodeB}/api/health/status`)).json()).cluster?.nodes?.length)
    .toBe(2);
  await page.reload();
  await expect(page.getByTestId("cluster")).toHaveText("2 nodes");
  await expect(page.getByTestId("cluster")).toHaveAttribute("title", /e2e-a \(alive/);
  await expect(page.locator(".link")).toHaveAttribute("data-state", "connected");
  await markNoReload(page);

  // A job whose second step takes 3 s, so that it is seen running.
  const created = await request.post(`${nodeA}/api/jobs`, {
    data: {
      name: "Cross Node",
      workflow: {
        steps: [
          { id: "a", action: { agent_task: { prompt: "x" } }, simulation: { latency_ms: [50, 50] } },
          { id: "b", action: { agent_task: { prompt: "y" } }, simulation: { latency_ms: [3000, 3000] } },
        ],
        dependencies: { b: ["a"] },
      },
      execute: true,
    },
  });
  expect(created.status()).toBe(201);
  const runId: string = (await created.json()).run_id;

  // Node B's overview, never reloaded, lists it among the running workflows
  // and the recent traces...
  const running = page.locator(`li.running-run[data-run="${runId}"]`);
  await expect(running).toBeVisible({ timeout: 10_000 });
  await expect(running).toContainText("Cross Node");
  await expect(running.locator("[role=progressbar]")).toHaveAttribute("data-status", "Running");
  const recent = page.locator(`tr[data-run="${runId}"]`);
  await expect(recent.locator(".badge")).toHaveText("Running");
  // ...then as completed, once node A has run it.
  await expect(recent.locator(".badge")).toHaveText("Completed", { timeout: 15_000 });
  await expect(recent).toContainText("Cross Node");
  await expect(running).toHaveCount(0);
  await stillNoReload(page);
  await page.screenshot({ path: "screenshots/cluster-live.png", fullPage: true });

  // Node B's API says node A ran it. (The trace page does not show a run's
  // node, so only the API is asked.)
  const seen = await (await request.get(`${nodeB}/api/runs/${runId}`)).json();
  expect(seen.status).toBe("Completed");
  expect(seen.node).toBe("e2e-a");

  // Its trace on node B is whole.
  await page.goto(`/traces/${runId}`);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Cross Node");
  await expect(page.getByTestId("trace-progress")).toHaveText("100%");
  await expect(page.locator(".badge").first()).toHaveText("Completed");
  await expect(page.locator(".wf-bar")).toHaveCount(2);
});
