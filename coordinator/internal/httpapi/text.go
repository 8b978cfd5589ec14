package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// Text that PostgreSQL cannot store: its text and jsonb types reject the
// NUL character (U+0000) and invalid UTF-8. Every request's path and
// query parameters and JSON body are checked once, before any handler, so
// such input gets a 400 naming where it is, never a database error.
var (
	ErrBadText = APIError{http.StatusBadRequest, "invalid_text", "a text value contains a NUL character (U+0000) or invalid UTF-8, which cannot be stored"}
	ErrBadPath = APIError{http.StatusBadRequest, "invalid_path_parameter", "a path parameter has an invalid value"}
)

// storable reports whether PostgreSQL can store s as text.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// checkText refuses requests whose path or query parameters PostgreSQL
// could not store.
func checkText(c *gin.Context) {
	for _, p := range c.Params {
		if !storable(p.Value) {
			fail(c, ErrBadText, api.FieldError{Field: "path." + p.Key, Message: "NUL character or invalid UTF-8"})
			return
		}
	}
	for k, vs := range c.Request.URL.Query() {
		ok := storable(k)
		for _, v := range vs {
			ok = ok && storable(v)
		}
		if !ok {
			name := k
			if !storable(name) {
				name = fmt.Sprintf("%q", k)
			}
			fail(c, ErrBadText, api.FieldError{Field: "query." + name, Message: "NUL character or invalid UTF-8"})
			return
		}
	}
	c.Next()
}

// unstorableJSON returns the JSON path ("profile.hostname", "tags[2]") of
// the first string or key of body that contains a NUL character, and
// whether there is one. body must be valid UTF-8; an invalid JSON document
// reports nothing (decoding it will).
func unstorableJSON(body []byte) (string, bool) {
	// In valid JSON a NUL can only be written as the escape \u0000.
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		array bool
		index int
		key   string
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for i, f := range stack {
			if f.array {
				fmt.Fprintf(&b, "[%d]", f.index)
				continue
			}
			if i > 0 {
				b.WriteByte('.')
			}
			if storable(f.key) {
				b.WriteString(f.key)
			} else {
				b.WriteString(strconv.Quote(f.key))
			}
		}
		return b.String()
	}
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		// A value just ended at the top frame: advance it.
		advance := func() {
			if n := len(stack); n > 0 {
				if stack[n-1].array {
					stack[n-1].index++
				} else {
					expectKey = true
				}
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{})
				expectKey = true
				continue
			case '[':
				stack = append(stack, frame{array: true})
				expectKey = false
				continue
			default: // } or ]
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return "", false
				}
				advance()
				continue
			}
		case string:
			if expectKey {
				stack[len(stack)-1].key = v
				expectKey = false
				if strings.ContainsRune(v, 0) {
					return path(), true
				}
				continue
			}
			if strings.ContainsRune(v, 0) {
				return path(), true
			}
		}
		if len(stack) == 0 {
			return "", false
		}
		advance()
	}
}
