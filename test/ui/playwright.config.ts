/**
 * Browser tests of the status window in Debian's Chromium (.ci/run installs it). Compiled
 * with the rest of the tests; run by test/run.js after Node's tests:
 *   npx playwright test -c out/test/ui/playwright.config.js
 */
import { defineConfig } from '@playwright/test';
import { join } from 'node:path';

export default defineConfig({
  testDir: __dirname,
  testMatch: '*.spec.js',
  outputDir: join(__dirname, '..', '..', 'test-results'),
  workers: 1,
  timeout: 60_000,
  reporter: 'list',
  use: {
    browserName: 'chromium',
    viewport: { width: 1366, height: 768 },
    launchOptions: { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' },
  },
});
