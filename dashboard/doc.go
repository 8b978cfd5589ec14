// Package dashboard is the coordinator's web UI: a single-page app (plain
// JavaScript modules and Apache ECharts, bundled with esbuild) embedded in
// the binary with go:embed, so a `go build` needs no Node.
//
// Register mounts it on the coordinator's router: GET / serves index.html
// and GET /assets/:file the bundle. The app uses hash routes (#/devices,
// #/searches/<id>, ...), so no other path is claimed and every /api/v1
// route stays the API's. It signs in through /api/v1/session (a cookie
// session, see coordinator/internal/httpapi/session.go) and receives live
// updates from the /api/v1/events SSE stream.
//
// The sources are in web/src; `cd dashboard/web && npm ci && node build.mjs`
// rebuilds dist/, which is committed. dist/STAMP is a digest of
// every build input and TestBundleIsCurrent fails when the sources changed
// without a rebuild. Build with -tags devassets to serve dist/ from disk
// instead of the embedded copy, for a rebuild-and-reload loop.
//
// The browser tests (browser_test.go) drive Debian's chromium through
// chromedp against a real coordinator and a real device agent, and save
// the screenshots of docs/user-guide.md to docs/screenshots.
package dashboard
