package httpapi

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSessionCookiesSecure: the session cookies are Secure exactly when the
// request came over TLS, or from a trusted proxy whose configured header
// says https; the header from anyone else, or another header, is ignored.
func TestSessionCookiesSecure(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name        string
		proxyHeader string
		remote      string
		tls         bool
		header      map[string]string
		want        bool
	}{
		{"plain http", "", "192.0.2.1:5000", false, nil, false},
		{"tls", "", "192.0.2.1:5000", true, nil, true},
		{"header not configured", "", "10.1.2.3:5000", false, map[string]string{"X-Forwarded-Proto": "https"}, false},
		{"trusted proxy https", "X-Forwarded-Proto", "10.1.2.3:5000", false, map[string]string{"X-Forwarded-Proto": "https"}, true},
		{"trusted proxy ipv6", "X-Forwarded-Proto", "[::1]:5000", false, map[string]string{"X-Forwarded-Proto": "HTTPS"}, true},
		{"trusted proxy http", "X-Forwarded-Proto", "10.1.2.3:5000", false, map[string]string{"X-Forwarded-Proto": "http"}, false},
		{"nearest proxy wins", "X-Forwarded-Proto", "10.1.2.3:5000", false, map[string]string{"X-Forwarded-Proto": "https, http"}, false},
		{"untrusted peer", "X-Forwarded-Proto", "192.0.2.1:5000", false, map[string]string{"X-Forwarded-Proto": "https"}, false},
		{"other header", "X-Forwarded-Proto", "10.1.2.3:5000", false, map[string]string{"Forwarded": "proto=https"}, false},
		{"forwarded", "Forwarded", "10.1.2.3:5000", false, map[string]string{"Forwarded": `for=192.0.2.60;proto="https";by=203.0.113.43`}, true},
		{"forwarded http", "Forwarded", "10.1.2.3:5000", false, map[string]string{"Forwarded": "for=192.0.2.60;proto=http"}, false},
	}
	for _, tc := range cases {
		s := &Server{d: Deps{ProxyHeader: tc.proxyHeader, TrustedProxies: proxies}}
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodPost, "/api/v1/session", nil)
		c.Request.RemoteAddr = tc.remote
		if tc.tls {
			c.Request.TLS = &tls.ConnectionState{}
		}
		for k, v := range tc.header {
			c.Request.Header.Set(k, v)
		}
		s.setSessionCookies(c, "hils_session_id_session_id", 0)
		cookies := (&http.Response{Header: w.Header()}).Cookies()
		if len(cookies) != 2 {
			t.Fatalf("%s: %d cookies set", tc.name, len(cookies))
		}
		for _, ck := range cookies {
			if ck.Secure != tc.want {
				t.Errorf("%s: cookie %s Secure = %v, want %v", tc.name, ck.Name, ck.Secure, tc.want)
			}
			if ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
				t.Errorf("%s: cookie %s = %+v", tc.name, ck.Name, ck)
			}
		}
	}
}

func TestCSRFTokenBoundToSession(t *testing.T) {
	a, b := CSRFToken("hils_aaaaaaaaaaaaaaaa"), CSRFToken("hils_bbbbbbbbbbbbbbbb")
	if a == b || len(a) != 64 || a != CSRFToken("hils_aaaaaaaaaaaaaaaa") {
		t.Fatalf("CSRF tokens %s %s", a, b)
	}
}

func TestUnstorableJSON(t *testing.T) {
	for body, want := range map[string]string{
		`{"name":"a\u0000b"}`:                      "name",
		`{"tags":["ok","x\u0000"]}`:                "tags[1]",
		`{"profile":{"cpu":{"model":"\u0000"}}}`:   "profile.cpu.model",
		`{"a":[{"b":1},{"c":[1,"\u0000"]}]}`:       "a[1].c[1]",
		`{"a":1,"b":{"c":2},"d":"\u0000"}`:         "d",
		`["x",{"y":"\u0000"}]`:                     "[1].y",
		`{"k\u0000":1}`:                            `"k\x00"`,
		`{"name":"a\\u0000b"}`:                     "", // an escaped backslash: the text \u0000, no NUL
		`{"name":"ok"}`:                            "",
		`{"name":"a\u0000`:                         "", // broken JSON: the decoder reports it
		`{"spec":{"layers":[{"mixer":"\u0000"}]}}`: "spec.layers[0].mixer",
	} {
		path, bad := unstorableJSON([]byte(body))
		if bad != (want != "") || path != want {
			t.Errorf("%s: %q %v, want %q", body, path, bad, want)
		}
	}
}

// TestAtCapacity: JetStream limit errors, however wrapped, are capacity
// errors (503 capacity_exceeded); other errors are not.
func TestAtCapacity(t *testing.T) {
	wrapped := fmt.Errorf("create consumer agt-x: %w", jetstream.ErrMaximumConsumersLimit)
	if !atCapacity(wrapped) {
		t.Error("the consumer limit is not a capacity error")
	}
	if !atCapacity(fmt.Errorf("x: %w", &jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"})) {
		t.Error("insufficient resources is not a capacity error")
	}
	for _, err := range []error{errors.New("boom"), jetstream.ErrConsumerNotFound, fmt.Errorf("x: %w", jetstream.ErrStreamNotFound)} {
		if atCapacity(err) {
			t.Errorf("%v is a capacity error", err)
		}
	}
}
