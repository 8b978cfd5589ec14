package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nkeys"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/internal/predictors"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

func (s *Server) createEnrollmentToken(c *gin.Context) {
	var req api.EnrollmentTokenRequest
	if c.Request.ContentLength != 0 {
		if !decodeJSON(c, &req) {
			return
		}
	}
	ttl := s.d.EnrollTTL
	if req.TTLSeconds != nil {
		if *req.TTLSeconds < 60 || *req.TTLSeconds > 30*86400 {
			failFields(c, api.FieldError{Field: "ttl_seconds", Message: "must be between 60 and 2592000"})
			return
		}
		ttl = time.Duration(*req.TTLSeconds) * time.Second
	}
	t, secret, err := s.d.Store.CreateEnrollmentToken(c.Request.Context(), principal(c).ID, ttl)
	if err != nil {
		s.internal(c, "create enrollment token", err)
		return
	}
	s.d.Log.Info("enrollment token created", "id", t.ID, "expires_at", t.ExpiresAt, "by", principal(c).Name)
	c.JSON(http.StatusCreated, api.EnrollmentToken{ID: t.ID, Token: secret, ExpiresAt: t.ExpiresAt})
}

var tagRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,39}$`)

func checkName(field, name string) *api.FieldError {
	if name == "" || utf8.RuneCountInString(name) > 100 || strings.TrimSpace(name) != name {
		return &api.FieldError{Field: field, Message: "must be 1 to 100 characters without leading or trailing spaces"}
	}
	return nil
}

func checkTags(field string, tags []string) *api.FieldError {
	if len(tags) > 32 {
		return &api.FieldError{Field: field, Message: "at most 32 tags"}
	}
	seen := map[string]bool{}
	for i, t := range tags {
		if !tagRE.MatchString(t) {
			return &api.FieldError{Field: fmt.Sprintf("%s[%d]", field, i), Message: "must match " + tagRE.String()}
		}
		if seen[t] {
			return &api.FieldError{Field: fmt.Sprintf("%s[%d]", field, i), Message: "duplicate tag " + t}
		}
		seen[t] = true
	}
	return nil
}

func (s *Server) enroll(c *gin.Context) {
	var req wire.EnrollRequest
	if !decodeJSON(c, &req) {
		return
	}
	var errs []api.FieldError
	if req.Token == "" {
		errs = append(errs, api.FieldError{Field: "token", Message: "required"})
	}
	if !nkeys.IsValidPublicUserKey(req.NKey) {
		errs = append(errs, api.FieldError{Field: "nkey", Message: "must be a public NATS user key (starts with U)"})
	}
	if !bus.ValidToken(req.Class) {
		errs = append(errs, api.FieldError{Field: "class", Message: "required; lower-case letters, digits and dashes, at most 63"})
	}
	if len(req.Profile) > 0 {
		var obj map[string]any
		if json.Unmarshal(req.Profile, &obj) != nil {
			errs = append(errs, api.FieldError{Field: "profile", Message: "must be a JSON object"})
		}
	}
	if req.Name == "" {
		req.Name = profileHostname(req.Profile)
	}
	if fe := checkName("name", req.Name); fe != nil {
		errs = append(errs, *fe)
	}
	if fe := checkTags("tags", req.Tags); fe != nil {
		errs = append(errs, *fe)
	}
	if len(errs) > 0 {
		failFields(c, errs...)
		return
	}
	ctx := c.Request.Context()
	// The declared capacity in agents (--max-agents); the JOBS stream's
	// consumer limit stays the hard bound (concurrent enrollments may pass
	// this count together).
	if n, err := s.d.Store.CountLive(ctx); err != nil {
		s.internal(c, "count devices", err)
		return
	} else if n >= s.d.Bus.MaxAgents() {
		s.d.Log.Warn("enroll refused: at capacity", "devices", n, "max_agents", s.d.Bus.MaxAgents())
		fail(c, ErrCapacity, api.FieldError{Field: "max_agents", Message: fmt.Sprintf("the fleet holds %d live devices, its declared capacity is %d (--max-agents)", n, s.d.Bus.MaxAgents())})
		return
	}
	var added *bus.Identity
	var userJWT string
	d, err := s.d.Store.Enroll(ctx, req, func(d api.Device) error {
		id := bus.Identity{DeviceID: d.ID, Class: d.Class, NKey: d.NKey}
		j, err := s.d.Bus.IssueAgentJWT(id)
		if err != nil {
			return err
		}
		if err := s.d.Bus.AddAgent(ctx, id); err != nil {
			return err
		}
		added, userJWT = &id, j
		return nil
	})
	switch {
	case errors.Is(err, store.ErrTokenUnknown):
		fail(c, ErrEnrollUnknown, nil)
		return
	case errors.Is(err, store.ErrTokenUsed):
		fail(c, ErrEnrollUsed, nil)
		return
	case errors.Is(err, store.ErrTokenExpired):
		fail(c, ErrEnrollExpired, nil)
		return
	case errors.Is(err, store.ErrKeyInUse):
		fail(c, ErrNKeyInUse, nil)
		return
	case err != nil && atCapacity(err):
		s.d.Log.Warn("enroll refused: at capacity", "err", err)
		fail(c, ErrCapacity, nil)
		return
	case err != nil:
		if added != nil { // the transaction failed after the bus accepted the key
			if _, rerr := s.d.Bus.RemoveAgent(ctx, *added); rerr != nil {
				s.d.Log.Error("undo agent identity", "device", added.DeviceID, "err", rerr)
			}
		}
		s.internal(c, "enroll", err)
		return
	}
	s.d.Log.Info("device enrolled", "device", d.ID, "class", d.Class, "name", d.Name)
	c.JSON(http.StatusCreated, wire.EnrollResponse{
		DeviceID: d.ID, Name: d.Name, Class: d.Class,
		NATS: wire.NATSIdentity{
			URLs:           s.d.Bus.ClientURLsFor(localIP(c.Request)),
			NKey:           d.NKey,
			JWT:            userJWT,
			JWTSubject:     bus.JWTSubject(d.ID),
			InboxPrefix:    bus.InboxPrefix(d.ID),
			Stream:         bus.StreamJobs,
			AgentConsumer:  bus.AgentConsumer(d.ID),
			ClassConsumer:  bus.ClassConsumer(d.Class),
			ResultsSubject: bus.ResultsPrefix(d.ID),
			HeartbeatSubj:  bus.HeartbeatSubject(d.ID),
			ControlSubject: bus.ControlSubject(d.ID),
		},
	})
}

func profileHostname(p json.RawMessage) string {
	var v struct {
		Hostname string `json:"hostname"`
	}
	_ = json.Unmarshal(p, &v)
	if v.Hostname == "" || len(v.Hostname) > 100 {
		return "device"
	}
	return v.Hostname
}

func (s *Server) listDevices(c *gin.Context) {
	f := store.DeviceFilter{Class: c.Query("class"), Tag: c.Query("tag")}
	switch c.DefaultQuery("include_revoked", "false") {
	case "true":
		f.IncludeRevoked = true
	case "false":
	default:
		fail(c, ErrBadQuery, api.FieldError{Field: "include_revoked", Message: "must be true or false"})
		return
	}
	ds, err := s.d.Store.ListDevices(c.Request.Context(), f)
	if err != nil {
		s.internal(c, "list devices", err)
		return
	}
	c.JSON(http.StatusOK, api.DeviceList{Devices: ds})
}

func (s *Server) getDevice(c *gin.Context) {
	d, err := s.d.Store.GetDevice(c.Request.Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrDeviceNotFound, nil)
		return
	}
	if err != nil {
		s.internal(c, "get device", err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (s *Server) patchDevice(c *gin.Context) {
	var p api.DevicePatch
	if !decodeJSON(c, &p) {
		return
	}
	var errs []api.FieldError
	if p.Name != nil {
		if fe := checkName("name", *p.Name); fe != nil {
			errs = append(errs, *fe)
		}
	}
	if p.Tags != nil {
		if fe := checkTags("tags", *p.Tags); fe != nil {
			errs = append(errs, *fe)
		}
	}
	if p.Name == nil && p.Tags == nil {
		errs = append(errs, api.FieldError{Field: "name", Message: "give name and/or tags"})
	}
	if len(errs) > 0 {
		failFields(c, errs...)
		return
	}
	d, err := s.d.Store.UpdateDevice(c.Request.Context(), c.Param("id"), p)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrDeviceNotFound, nil)
		return
	}
	if err != nil {
		s.internal(c, "update device", err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (s *Server) deleteDevice(c *gin.Context) {
	ctx := c.Request.Context()
	d, err := s.d.Store.RevokeDevice(ctx, c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrDeviceNotFound, nil)
		return
	}
	if err != nil {
		s.internal(c, "revoke device", err)
		return
	}
	n, err := s.d.Bus.RemoveAgent(ctx, bus.Identity{DeviceID: d.ID, Class: d.Class, NKey: d.NKey})
	if err != nil {
		// The key is already refused (in-memory) and the DB row is revoked;
		// what failed is JetStream clean-up, retried at the next start.
		s.d.Log.Error("revoke: jetstream clean-up", "device", d.ID, "err", err)
	}
	if rows, err := s.d.Jobs.CancelForDevice(ctx, d.ID); err != nil {
		s.d.Log.Error("revoke: cancel jobs", "device", d.ID, "err", err)
	} else if uint64(rows) > n {
		n = uint64(rows)
	}
	s.d.Log.Info("device revoked", "device", d.ID, "cancelled_jobs", n)
	c.JSON(http.StatusOK, api.RevokeResponse{Device: d, CancelledJobs: n})
}

// getPredictors serves a device's fitted predictors (read scope).
func (s *Server) getPredictors(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	if _, err := s.d.Store.GetDevice(ctx, id); errors.Is(err, store.ErrNotFound) {
		fail(c, ErrDeviceNotFound, nil)
		return
	} else if err != nil {
		s.internal(c, "get device", err)
		return
	}
	rows, err := s.d.Store.Predictors(ctx, id)
	if err != nil {
		s.internal(c, "list predictors", err)
		return
	}
	out := api.DevicePredictors{DeviceID: id, Predictors: []api.DevicePredictor{}}
	for _, r := range rows {
		p, _, err := predictors.Decode(r)
		if err != nil {
			s.internal(c, "decode predictor", err)
			return
		}
		out.Predictors = append(out.Predictors, api.DevicePredictor{Runtime: r.Runtime, WorkloadHash: r.WorkloadHash,
			Measurements: r.Measurements, FittedAt: r.FittedAt, Predictor: p})
	}
	c.JSON(http.StatusOK, out)
}

// localIP is the address of this machine that the request came in on (the
// address the client used to reach it), or nil.
func localIP(r *http.Request) net.IP {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		return a.IP
	}
	return nil
}
