// Package chromium finds a headless Chromium for tests that load pages in a real browser.
package chromium
