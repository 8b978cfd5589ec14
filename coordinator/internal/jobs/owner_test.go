package jobs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// jobWriters are the store and bus methods that create a job or change its
// state. Only this package may call them: it is the state machine's one
// owner.
var jobWriters = map[string]bool{
	"CreateJobs": true, "InsertTrial": true, "SetJobSeq": true, "StoreResults": true, "FailJobBySeq": true,
	"MarkJobRunning": true, "CancelJob": true, "CancelDeviceJobs": true, "PublishJob": true, "DeleteJob": true,
}

// TestOneOwner: no other package of the coordinator (tests aside) calls a
// method that creates or changes a job.
func TestOneOwner(t *testing.T) {
	root := filepath.Join("..", "..")
	calls := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		owner := strings.HasSuffix(dir, "internal/jobs")
		// The store and the bus define them.
		definer := strings.HasSuffix(dir, "internal/store") || strings.HasSuffix(dir, "internal/bus")
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !jobWriters[sel.Sel.Name] {
				return true
			}
			calls++
			if !owner && !definer {
				t.Errorf("%s calls %s: only coordinator/internal/jobs creates or changes jobs", path, sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 {
		t.Fatal("found no calls at all: is the walk looking at the coordinator?")
	}
}
