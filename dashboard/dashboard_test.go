package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// sourceStamp recomputes dist/STAMP the way web/build.mjs does: sha256 over
// "path\n" + sha256hex(content) + "\n" for every input, sorted by path.
func sourceStamp(t *testing.T) string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("web/src", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, strings.TrimPrefix(filepath.ToSlash(p), "web/"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "package.json", "package-lock.json", "build.mjs")
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("web", f))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		h.Write([]byte(f + "\n" + hex.EncodeToString(sum[:]) + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestBundleIsCurrent(t *testing.T) {
	want := sourceStamp(t)
	if got := Stamp(); got != want {
		t.Fatalf("dashboard/dist was built from other sources (STAMP %.12s, sources %.12s); rebuild it: cd dashboard/web && npm ci && node build.mjs, and commit dashboard/dist", got, want)
	}
}

func TestIndexAndAssetsEmbedded(t *testing.T) {
	r := gin.New()
	Register(r)
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}
	w := get("/")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<main id="app"`) {
		t.Fatalf("GET /: %d %.200s", w.Code, w.Body.String())
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("index CSP = %q", csp)
	}
	stamp := Stamp()[:12]
	for _, a := range []string{"/assets/app.js?v=" + stamp, "/assets/app.css?v=" + stamp} {
		if !strings.Contains(w.Body.String(), a) {
			t.Errorf("index.html does not reference %s", a)
		}
		aw := get(a)
		if aw.Code != http.StatusOK || aw.Body.Len() < 1000 {
			t.Errorf("GET %s: %d, %d bytes", a, aw.Code, aw.Body.Len())
		}
		if ct := aw.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/") {
			t.Errorf("GET %s: Content-Type %q", a, ct)
		}
		etag := aw.Header().Get("ETag")
		req := httptest.NewRequest(http.MethodGet, a, nil)
		req.Header.Set("If-None-Match", etag)
		nw := httptest.NewRecorder()
		r.ServeHTTP(nw, req)
		if nw.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s: %d, want 304", a, etag, nw.Code)
		}
	}
	for _, bad := range []string{"/assets/nope.js", "/assets/../index.html", "/assets/STAMP", "/assets/app.exe"} {
		if w := get(bad); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, w.Code)
		}
	}
}
