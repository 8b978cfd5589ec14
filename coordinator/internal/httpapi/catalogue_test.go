package httpapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCatalogueComplete: every APIError declared in the package is in
// Catalogue, and codes are unique, so the OpenAPI document and clients
// see every error the handlers can return.
func TestCatalogueComplete(t *testing.T) {
	listed := map[string]bool{}
	for _, e := range Catalogue {
		if listed[e.Code] {
			t.Errorf("code %q listed twice", e.Code)
		}
		listed[e.Code] = true
		if e.Status < 400 || e.Message == "" {
			t.Errorf("%q: status %d, message %q", e.Code, e.Status, e.Message)
		}
	}
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := 0
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "APIError" || len(lit.Elts) != 3 {
				return true
			}
			code, err := strconv.Unquote(lit.Elts[1].(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			declared++
			if !listed[code] {
				t.Errorf("APIError %q is declared but not in Catalogue", code)
			}
			return true
		})
	}
	if declared != len(Catalogue) {
		t.Errorf("%d APIErrors declared, %d in Catalogue", declared, len(Catalogue))
	}
}
