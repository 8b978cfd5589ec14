package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// DefaultURL is the coordinator address used when none is configured.
const DefaultURL = "http://127.0.0.1:8080"

// Client calls one coordinator. Its zero value is not usable; use New.
type Client struct {
	base  *url.URL
	token string
	// HTTP is the client requests go through. Defaults to
	// http.DefaultClient: no overall timeout, because event streams and
	// exports are long; callers bound calls with their context.
	HTTP *http.Client
}

// New returns a client of the coordinator at baseURL (scheme and host, an
// optional path prefix) that authenticates with token (may be empty).
func New(baseURL, token string) (*Client, error) {
	if baseURL != "" && !strings.Contains(baseURL, "://") {
		// "host:8080" and "127.0.0.1:8080" mean the coordinator's plain
		// HTTP address (url.Parse would read "host" as a scheme or fail).
		baseURL = "http://" + baseURL
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("coordinator URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("coordinator URL %q: want http://host:port or https://host", baseURL)
	}
	return &Client{base: u, token: token, HTTP: http.DefaultClient}, nil
}

// ErrNotFound is matched (errors.Is) by an *Error with HTTP status 404.
var ErrNotFound = errors.New("not found")

// Error is an error response of the API.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the stable error code, e.g. "search_invalid".
	Code string
	// Message is the catalogue's message for Code.
	Message string
	// Fields are the field errors of validation failures (details given as
	// [{field, message}] or one {field, message}).
	Fields []api.FieldError
	// Details is the raw details value.
	Details json.RawMessage
	// Hint is a line on what to do, added by the client (e.g. how to give
	// a token after a 401 without one).
	Hint string
}

// NoTokenHint is the hint of a 401 answer to a request sent without a token.
const NoTokenHint = "no API token given: set HIL_TOKEN or pass --token (serve --dev prints the admin token; `coordinator token create --name NAME` makes more)"

// Error returns the message followed by one "field: message" line per field
// error, or by the details when they are not field errors.
func (e *Error) Error() string {
	var b strings.Builder
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	fmt.Fprintf(&b, "%s (%s)", msg, e.Code)
	for _, f := range e.Fields {
		b.WriteString("\n  ")
		if f.Field != "" {
			b.WriteString(f.Field + ": ")
		}
		b.WriteString(f.Message)
	}
	var conflict api.SearchStateConflict
	if len(e.Fields) == 0 && e.Code == "search_state_conflict" && json.Unmarshal(e.Details, &conflict) == nil && conflict.State != "" {
		// A sentence, not the details' JSON.
		b.Reset()
		fmt.Fprintf(&b, "the search is %s", conflict.State)
		if len(conflict.AllowedFrom) > 0 {
			states := make([]string, len(conflict.AllowedFrom))
			for i, s := range conflict.AllowedFrom {
				states[i] = string(s)
			}
			fmt.Fprintf(&b, "; this is possible only while it is %s", orList(states))
		}
		fmt.Fprintf(&b, " (%s)", e.Code)
	} else if len(e.Fields) == 0 && len(e.Details) > 0 && string(e.Details) != "null" {
		var s string
		if json.Unmarshal(e.Details, &s) == nil {
			b.WriteString(": " + s)
		} else {
			b.WriteString(": " + string(e.Details))
		}
	}
	if e.Hint != "" {
		b.WriteString("\n" + e.Hint)
	}
	return b.String()
}

// orList joins "a", "a or b", "a, b or c".
func orList(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Is reports whether target is ErrNotFound and the status is 404.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// decodeError turns a non-2xx response into *Error.
func decodeError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body api.ErrorBody
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(data, &body) != nil || body.Code == "" {
		e.Code = strconv.Itoa(resp.StatusCode)
		e.Message = strings.TrimSpace(string(data))
		if len(e.Message) > 300 {
			e.Message = e.Message[:300] + "…"
		}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
		return e
	}
	e.Code, e.Message = body.Code, body.Message
	if body.Details != nil {
		e.Details, _ = json.Marshal(body.Details)
	}
	var fields []api.FieldError
	var one api.FieldError
	switch {
	case json.Unmarshal(e.Details, &fields) == nil && validFields(fields):
		e.Fields = fields
	case json.Unmarshal(e.Details, &one) == nil && one.Message != "":
		e.Fields = []api.FieldError{one}
	}
	return e
}

func validFields(fs []api.FieldError) bool {
	for _, f := range fs {
		if f.Message == "" {
			return false
		}
	}
	return len(fs) > 0
}

// request sends a request to /api/v1 + p (an escaped path) and returns the response when its status is
// 2xx; otherwise the body is decoded into *Error. The caller closes the
// body.
func (c *Client) request(ctx context.Context, method, p string, query url.Values, body []byte, header http.Header) (*http.Response, error) {
	// p is already escaped (IDs go through url.PathEscape), so it is
	// appended, not joined: joining would clean ".." out of an ID.
	raw := strings.TrimRight(c.base.EscapedPath(), "/") + "/api/v1" + p
	unescaped, err := url.PathUnescape(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, p, err)
	}
	u := *c.base
	u.Path, u.RawPath = unescaped, raw
	u.RawQuery = query.Encode()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, p, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, p, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		err := decodeError(resp)
		var ae *Error
		if resp.StatusCode == http.StatusUnauthorized && c.token == "" && errors.As(err, &ae) {
			ae.Hint = NoTokenHint
		}
		return nil, err
	}
	return resp, nil
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, p string, query url.Values, in, out any) error {
	var body []byte
	switch b := in.(type) {
	case nil:
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode %s body: %w", p, err)
		}
	}
	resp, err := c.request(ctx, method, p, query, body, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, p, err)
	}
	return nil
}

// filename returns the file name of a Content-Disposition header, base
// name only, or "".
func filename(h string) string {
	_, params, err := mime.ParseMediaType(h)
	if err != nil {
		return ""
	}
	name := path.Base(strings.ReplaceAll(params["filename"], `\`, "/"))
	if name == "." || name == "/" || name == ".." {
		return ""
	}
	return name
}
