import { defineConfig } from "@playwright/test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The server under test: scripts/test.sh builds it and passes its path.
const port = Number(process.env.SHIIOO_E2E_PORT ?? 8181);
const bin = process.env.SHIIOO_BIN ?? "../target/debug/shiioo";
const site = process.env.SHIIOO_SITE ?? "../target/site";
// A fresh event log for every run of the suite.
const data = mkdtempSync(join(tmpdir(), "shiioo-e2e-"));
// A second server that asks for tokens (tests/auth.spec.ts), one per role.
export const authPort = port + 1;
const authData = mkdtempSync(join(tmpdir(), "shiioo-e2e-auth-"));
const tokens = join(authData, "tokens.toml");
writeFileSync(
  tokens,
  ["viewer", "operator", "approver"]
    .map((role) => `[[token]]\nname = "${role}-e2e"\nrole = "${role}"\ntoken = "${role}-token-for-e2e"\n`)
    .join("\n"),
);

// A third whose simulated calls are priced (tests/budget.spec.ts): the
// others keep them unpriced, as the shipped table does.
export const pricedPort = port + 2;
const pricedData = mkdtempSync(join(tmpdir(), "shiioo-e2e-priced-"));
const prices = join(pricedData, "prices.toml");
writeFileSync(prices, "[models.simulated]\ninput = 1000.0\noutput = 1000.0\n");

// Two nodes of one cluster (tests/cluster.spec.ts), when scripts/test.sh
// passes its throw-away PostgreSQL (a URL without a database name): each
// with its own data dir, both on its `postgres` database.
const postgres = process.env.SHIIOO_E2E_POSTGRES;
export const clusterPorts = { a: port + 3, b: port + 4 };
const cluster = postgres
  ? (["a", "b"] as const).map((n) =>
      server(
        clusterPorts[n],
        mkdtempSync(join(tmpdir(), `shiioo-e2e-node-${n}-`)),
        `--database-url ${postgres.replace(/\/+$/, "")}/postgres --node-id e2e-${n} --lease-secs 2`,
        "/api/health/status",
      ),
    )
  : [];

/** One server under test on `at`, ready once `ready` answers. */
function server(at: number, dataDir: string, flags: string, ready: string) {
  return {
    command: `${bin} --addr 127.0.0.1:${at} --data-dir ${dataDir} ${flags}`.trim(),
    env: { LEPTOS_SITE_ROOT: site, RUST_LOG: "warn" },
    url: `http://127.0.0.1:${at}${ready}`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe" as const,
    stderr: "pipe" as const,
  };
}

export default defineConfig({
  testDir: "./tests",
  outputDir: "./test-results",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    // Debian's Chromium: Playwright's own browser download cannot work here.
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    },
    headless: true,
    trace: "retain-on-failure",
  },
  webServer: [
    server(port, data, "", "/api/health/status"),
    server(authPort, authData, `--auth-tokens ${tokens}`, "/sign-in"),
    server(pricedPort, pricedData, `--prices ${prices}`, "/api/health/status"),
    ...cluster,
  ],
});
