package search

import "github.com/hilsearch/hilsearch/arch"

// paramCount is the exact parameter count of s.
func paramCount(s *arch.Spec) int64 { return s.Params().Total }
