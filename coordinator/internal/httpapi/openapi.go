package httpapi

import (
	_ "embed"

	"github.com/gin-gonic/gin"
)

// OpenAPIDoc is the OpenAPI 3 description of every route; a test checks it
// validates and covers the router.
//
//go:embed openapi.json
var OpenAPIDoc []byte

func (s *Server) openapi(c *gin.Context) {
	c.Data(200, "application/json", OpenAPIDoc)
}
