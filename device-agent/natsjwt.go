package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// jwtCheckEvery is how often the agent looks at its JWT's remaining life.
const jwtCheckEvery = time.Hour

// jwtNeedsRenewal reports whether half of the JWT's life has passed (a JWT
// without expiry never needs renewal).
func jwtNeedsRenewal(token string, now time.Time) bool {
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil || uc.Expires == 0 {
		return err != nil
	}
	mid := uc.IssuedAt + (uc.Expires-uc.IssuedAt)/2
	return now.Unix() >= mid
}

// renewJWTLoop renews the agent's NATS user JWT over NATS once half its
// life has passed, and stores the new one in the identity file, until ctx
// ends. An agent offline for longer than the JWT's whole life must enroll
// again.
func (a *runner) renewJWTLoop(ctx context.Context) {
	for {
		if cur, err := a.userJWT(); err == nil && jwtNeedsRenewal(cur, time.Now()) {
			if err := a.renewJWT(ctx); err != nil {
				a.log.Warn("renew NATS JWT", "err", err)
			} else {
				a.log.Info("NATS JWT renewed")
			}
		}
		if !sleepCtx(ctx, jwtCheckEvery) {
			return
		}
	}
}

// renewJWT asks the coordinator for a fresh JWT and keeps it if it is a
// valid user JWT for this agent's own key.
func (a *runner) renewJWT(ctx context.Context) error {
	if a.cfg.NATS.JWTSubject == "" {
		return errors.New("the identity file names no JWT renewal subject")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	m, err := a.nc.RequestWithContext(ctx, a.cfg.NATS.JWTSubject, nil)
	if err != nil {
		return err
	}
	body := string(m.Data)
	if strings.HasPrefix(body, "error: ") {
		return fmt.Errorf("coordinator: %s", strings.TrimPrefix(body, "error: "))
	}
	uc, err := jwt.DecodeUserClaims(body)
	if err != nil {
		return fmt.Errorf("reply is not a user JWT: %w", err)
	}
	kp, err := nkeys.FromSeed([]byte(a.cfg.Seed))
	if err != nil {
		return errors.New("identity: invalid seed")
	}
	pub, _ := kp.PublicKey()
	if uc.Subject != pub {
		return errors.New("the renewed JWT is for another key")
	}
	a.jwtMu.Lock()
	a.cfg.NATS.JWT = body
	cfg := *a.cfg
	a.jwtMu.Unlock()
	if a.o.config != "" {
		if err := SaveConfig(a.o.config, &cfg); err != nil {
			return fmt.Errorf("save the renewed JWT: %w", err)
		}
	}
	return nil
}
