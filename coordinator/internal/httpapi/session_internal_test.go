package httpapi

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestSessionCookiesSecureOverTLS(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodPost, "/api/v1/session", nil)
		if tlsOn {
			c.Request.TLS = &tls.ConnectionState{}
		}
		setSessionCookies(c, "hil_secret_secret_secret", 0)
		cookies := (&http.Response{Header: w.Header()}).Cookies()
		if len(cookies) != 2 {
			t.Fatalf("%d cookies set", len(cookies))
		}
		for _, ck := range cookies {
			if ck.Secure != tlsOn {
				t.Errorf("TLS %v: cookie %s Secure = %v", tlsOn, ck.Name, ck.Secure)
			}
		}
	}
}

func TestCSRFTokenBoundToSecret(t *testing.T) {
	a, b := CSRFToken("hil_a_aaaaaaaaaaaaaaaa"), CSRFToken("hil_b_bbbbbbbbbbbbbbbb")
	if a == b || len(a) != 64 || a != CSRFToken("hil_a_aaaaaaaaaaaaaaaa") {
		t.Fatalf("CSRF tokens %s %s", a, b)
	}
}
