package agent

import (
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

func TestJWTNeedsRenewal(t *testing.T) {
	acc, _ := nkeys.CreateAccount()
	user, _ := nkeys.CreateUser()
	upub, _ := user.PublicKey()
	issue := func(ttl time.Duration) string {
		uc := jwt.NewUserClaims(upub)
		if ttl > 0 {
			uc.Expires = time.Now().Add(ttl).Unix()
		}
		j, err := uc.Encode(acc)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	now := time.Now()
	j := issue(30 * 24 * time.Hour)
	if jwtNeedsRenewal(j, now) || jwtNeedsRenewal(j, now.Add(14*24*time.Hour)) {
		t.Fatal("a fresh JWT needs no renewal")
	}
	if !jwtNeedsRenewal(j, now.Add(16*24*time.Hour)) {
		t.Fatal("a JWT past half its life needs renewal")
	}
	if jwtNeedsRenewal(issue(0), now.Add(1000*24*time.Hour)) {
		t.Fatal("a JWT without expiry needs no renewal")
	}
	if !jwtNeedsRenewal("garbage", now) {
		t.Fatal("an undecodable JWT needs renewal")
	}
}
