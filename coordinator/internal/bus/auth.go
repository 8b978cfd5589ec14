package bus

import (
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Identity is one agent's NATS identity: its public NKey and what it may do.
type Identity struct {
	DeviceID string
	Class    string
	NKey     string
}

// authenticator implements server.Authentication for the embedded server.
// It verifies the NKey signature over the server nonce and assigns the
// permissions of the identity the key belongs to. It never queries
// PostgreSQL: the identities live in memory, loaded at start and changed at
// enrollment and revocation.
type authenticator struct {
	mu       sync.RWMutex
	agents   map[string]Identity // by public NKey
	coordPub string              // the coordinator's own key: full rights
}

func newAuthenticator(coordPub string) *authenticator {
	return &authenticator{agents: map[string]Identity{}, coordPub: coordPub}
}

func (a *authenticator) set(id Identity) {
	a.mu.Lock()
	a.agents[id.NKey] = id
	a.mu.Unlock()
}

func (a *authenticator) remove(nkey string) {
	a.mu.Lock()
	delete(a.agents, nkey)
	a.mu.Unlock()
}

func (a *authenticator) lookup(nkey string) (Identity, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	id, ok := a.agents[nkey]
	return id, ok
}

// Check is called by the server for every client connection.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	opts := c.GetOpts()
	if opts == nil || opts.Nkey == "" || opts.Sig == "" {
		return false
	}
	if !verifyNonce(opts.Nkey, opts.Sig, c.GetNonce()) {
		return false
	}
	if opts.Nkey == a.coordPub {
		c.RegisterUser(&server.User{Username: "coordinator"})
		return true
	}
	id, ok := a.lookup(opts.Nkey)
	if !ok {
		return false
	}
	c.RegisterUser(&server.User{Username: "agent-" + id.DeviceID, Permissions: AgentPermissions(id)})
	return true
}

func verifyNonce(pub, sig string, nonce []byte) bool {
	if len(nonce) == 0 {
		return false
	}
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return false
	}
	raw, err := decodeSig(sig)
	if err != nil {
		return false
	}
	return kp.Verify(nonce, raw) == nil
}
