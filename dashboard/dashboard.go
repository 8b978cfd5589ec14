package dashboard

import (
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// contentSecurityPolicy allows only this origin's scripts, styles and
// connections; ECharts draws on canvas and needs nothing else.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Stamp is the digest of the sources the embedded bundle was built from
// (dist/STAMP), or "" when the bundle is missing.
func Stamp() string {
	b, err := fs.ReadFile(Assets(), "STAMP")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Register mounts the dashboard on r: GET / (the app) and GET
// /assets/:file (its script and style sheet).
func Register(r gin.IRoutes) {
	r.GET("/", serveIndex)
	r.GET("/assets/:file", serveAsset)
}

func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

func serveIndex(c *gin.Context) {
	data, err := fs.ReadFile(Assets(), "index.html")
	if err != nil {
		c.String(http.StatusServiceUnavailable, "the dashboard bundle is not built: cd dashboard/web && npm ci && node build.mjs\n")
		return
	}
	securityHeaders(c)
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/html; charset=utf-8", data)
}

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".map": "application/json",
}

func serveAsset(c *gin.Context) {
	name := path.Clean(strings.TrimPrefix(c.Param("file"), "/"))
	ct, ok := contentTypes[path.Ext(name)]
	if !ok || strings.Contains(name, "..") {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"code": "asset_not_found", "message": "no such dashboard asset"})
		return
	}
	data, err := fs.ReadFile(Assets(), "assets/"+name)
	if err != nil {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"code": "asset_not_found", "message": "no such dashboard asset"})
		return
	}
	securityHeaders(c)
	// index.html names the assets with ?v=<stamp>, so a new bundle is a new
	// URL; the ETag lets a reload revalidate cheaply.
	etag := `"` + Stamp() + `"`
	c.Header("ETag", etag)
	c.Header("Cache-Control", "no-cache")
	if c.GetHeader("If-None-Match") == etag {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, ct, data)
}
