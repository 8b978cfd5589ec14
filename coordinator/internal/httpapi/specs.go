package httpapi

import (
	"fmt"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/search"
)

// specCache keeps each search's parsed and validated spec, so that the
// Pareto, hypervolume, export and reference requests (the dashboard polls
// them) parse a stored spec once, not on every request. A stored spec
// never changes, so an entry never goes stale. The cached specs are shared
// between requests and must only be read.
type specCache struct {
	mu    sync.Mutex
	specs map[string]*search.Spec
}

// maxCachedSpecs bounds the cache; it is emptied when full.
const maxCachedSpecs = 1024

func (sc *specCache) get(se api.Search) (*search.Spec, error) {
	sc.mu.Lock()
	spec, ok := sc.specs[se.ID]
	sc.mu.Unlock()
	if ok {
		return spec, nil
	}
	spec, err := search.Parse(se.Spec)
	if err != nil {
		return nil, fmt.Errorf("stored spec of search %s: %w", se.ID, err)
	}
	sc.mu.Lock()
	if sc.specs == nil || len(sc.specs) >= maxCachedSpecs {
		sc.specs = map[string]*search.Spec{}
	}
	sc.specs[se.ID] = spec
	sc.mu.Unlock()
	return spec, nil
}

// searchSpec returns se's parsed spec, or writes the error response.
func (s *Server) searchSpec(c *gin.Context, se api.Search) (*search.Spec, bool) {
	spec, err := s.specs.get(se)
	if err != nil {
		s.internal(c, "stored search spec", err)
		return nil, false
	}
	return spec, true
}
