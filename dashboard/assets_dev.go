//go:build devassets

package dashboard

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Assets is the built dashboard read from dashboard/dist on disk at every
// request (-tags devassets), so a rebuild shows on reload.
func Assets() fs.FS {
	_, file, _, _ := runtime.Caller(0)
	return os.DirFS(filepath.Join(filepath.Dir(file), "dist"))
}
