package client

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// CreateSearch creates a search from a search spec (JSON). An invalid spec
// gives an *Error with Code "search_invalid" and Fields.
func (c *Client) CreateSearch(ctx context.Context, spec []byte) (api.Search, error) {
	var s api.Search
	err := c.do(ctx, "POST", "/searches", nil, spec, &s)
	return s, err
}

// ValidateSearch checks a search spec without creating anything. A spec
// with errors is not an error here: see SearchPreview.Valid and Errors.
func (c *Client) ValidateSearch(ctx context.Context, spec []byte) (api.SearchPreview, error) {
	var p api.SearchPreview
	err := c.do(ctx, "POST", "/searches/validate", nil, spec, &p)
	return p, err
}

// ListSearches returns every search, newest first as the coordinator
// orders them.
func (c *Client) ListSearches(ctx context.Context) ([]api.Search, error) {
	var out api.SearchList
	err := c.do(ctx, "GET", "/searches", nil, nil, &out)
	return out.Searches, err
}

// GetSearch returns one search.
func (c *Client) GetSearch(ctx context.Context, id string) (api.Search, error) {
	var s api.Search
	err := c.do(ctx, "GET", "/searches/"+url.PathEscape(id), nil, nil, &s)
	return s, err
}

// PauseSearch pauses a running search and returns it.
func (c *Client) PauseSearch(ctx context.Context, id string) (api.Search, error) {
	return c.transition(ctx, id, "pause")
}

// ResumeSearch resumes a paused search and returns it.
func (c *Client) ResumeSearch(ctx context.Context, id string) (api.Search, error) {
	return c.transition(ctx, id, "resume")
}

// CancelSearch cancels a running or paused search and returns it.
func (c *Client) CancelSearch(ctx context.Context, id string) (api.Search, error) {
	return c.transition(ctx, id, "cancel")
}

func (c *Client) transition(ctx context.Context, id, action string) (api.Search, error) {
	var s api.Search
	err := c.do(ctx, "POST", "/searches/"+url.PathEscape(id)+"/"+action, nil, nil, &s)
	return s, err
}

// ListTrials returns one page of a search's trials.
func (c *Client) ListTrials(ctx context.Context, id string, q api.TrialQuery) (api.TrialPage, error) {
	var p api.TrialPage
	err := c.do(ctx, "GET", "/searches/"+url.PathEscape(id)+"/trials", q.Values(), nil, &p)
	return p, err
}

// Pareto returns the search's complete trials and its Pareto front.
func (c *Client) Pareto(ctx context.Context, id string) (api.ParetoView, error) {
	var p api.ParetoView
	err := c.do(ctx, "GET", "/searches/"+url.PathEscape(id)+"/pareto", nil, nil, &p)
	return p, err
}

// Hypervolume returns the search's hypervolume history.
func (c *Client) Hypervolume(ctx context.Context, id string) (api.HypervolumeView, error) {
	var h api.HypervolumeView
	err := c.do(ctx, "GET", "/searches/"+url.PathEscape(id)+"/hypervolume", nil, nil, &h)
	return h, err
}

// Export streams an export of a search to w and returns the file name the
// coordinator suggests (Content-Disposition), or "".
func (c *Client) Export(ctx context.Context, id string, q api.ExportQuery, w io.Writer) (string, error) {
	resp, err := c.request(ctx, "GET", "/searches/"+url.PathEscape(id)+"/export", q.Values(), nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return "", fmt.Errorf("export %s: %w", q.Format, err)
	}
	return filename(resp.Header.Get("Content-Disposition")), nil
}
