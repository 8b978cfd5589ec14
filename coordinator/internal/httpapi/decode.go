package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// readBody reads a JSON request body of at most MaxBody bytes, valid
// UTF-8 with no NUL character in any string (PostgreSQL stores neither).
// On failure (another media type, too large, broken connection, such
// text) it writes the error response and returns false.
func readBody(c *gin.Context) ([]byte, bool) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			fail(c, ErrUnsupportedMedia, nil)
			return nil, false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(c, ErrBodyTooLarge, nil)
		} else {
			fail(c, ErrBadJSON, err.Error())
		}
		return nil, false
	}
	if !utf8.Valid(body) {
		fail(c, ErrBadText, api.FieldError{Message: "the body is not valid UTF-8"})
		return nil, false
	}
	if path, bad := unstorableJSON(body); bad {
		fail(c, ErrBadText, api.FieldError{Field: path, Message: "NUL character (U+0000)"})
		return nil, false
	}
	return body, true
}

// decodeJSON reads the body strictly into v: JSON media type, at most
// MaxBody bytes, no unknown fields, one value. On failure it writes the
// error response and returns false.
func decodeJSON(c *gin.Context, v any) bool {
	body, ok := readBody(c)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			fail(c, ErrUnknownField, strings.TrimPrefix(err.Error(), "json: "))
			return false
		}
		fail(c, ErrBadJSON, err.Error())
		return false
	}
	if dec.More() {
		fail(c, ErrBadJSON, "trailing data after the JSON value")
		return false
	}
	return true
}
