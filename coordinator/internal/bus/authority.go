package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// AuthFile is the file in the coordinator's data directory that holds the
// NATS authority's seeds (mode 0600). Losing it means re-enrolling every
// agent; leaking it lets anyone mint NATS users.
const AuthFile = "nats-auth.json"

// AppAccountName is the account of the coordinator, the agents and the
// streams; SysAccountName the NATS system account.
const (
	AppAccountName = "HIL"
	SysAccountName = "SYS"
)

// Authority is the coordinator's NATS trust chain (decentralized JWT auth):
// an operator, a system account and the application account, each with an
// identity key and a signing key (StrictSigningKeyUsage: the identity keys
// sign nothing but the operator JWT and are otherwise unused), the
// coordinator's own user and a system user for pushing account updates.
// It issues user JWTs (IssueUser) and keeps the set of revoked user keys
// that goes into every application account JWT.
type Authority struct {
	keys authKeys

	mu      sync.Mutex
	revoked map[string]int64 // user public key → revoked at (unix s)
}

type authKeys struct {
	Operator        string `json:"operator"`
	OperatorSigning string `json:"operator_signing"`
	Sys             string `json:"sys"`
	SysSigning      string `json:"sys_signing"`
	App             string `json:"app"`
	AppSigning      string `json:"app_signing"`
	Coordinator     string `json:"coordinator"` // user in App
	SysUser         string `json:"sys_user"`    // user in Sys
}

// LoadAuthority reads dir/AuthFile, creating it with fresh keys when it
// does not exist. Seeds are never logged.
func LoadAuthority(dir string) (*Authority, error) {
	path := filepath.Join(dir, AuthFile)
	a := &Authority{revoked: map[string]int64{}}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &a.keys); err != nil {
			return nil, fmt.Errorf("NATS authority %s: %w", path, err)
		}
		if err := a.keys.check(); err != nil {
			return nil, fmt.Errorf("NATS authority %s: %w", path, err)
		}
		return a, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("NATS authority: %w", err)
	}
	gen := []struct {
		dst  *string
		make func() (nkeys.KeyPair, error)
	}{
		{&a.keys.Operator, nkeys.CreateOperator}, {&a.keys.OperatorSigning, nkeys.CreateOperator},
		{&a.keys.Sys, nkeys.CreateAccount}, {&a.keys.SysSigning, nkeys.CreateAccount},
		{&a.keys.App, nkeys.CreateAccount}, {&a.keys.AppSigning, nkeys.CreateAccount},
		{&a.keys.Coordinator, nkeys.CreateUser}, {&a.keys.SysUser, nkeys.CreateUser},
	}
	for _, g := range gen {
		kp, err := g.make()
		if err != nil {
			return nil, err
		}
		seed, err := kp.Seed()
		if err != nil {
			return nil, err
		}
		*g.dst = string(seed)
	}
	if data, err = json.MarshalIndent(a.keys, "", "  "); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("NATS authority: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return nil, fmt.Errorf("NATS authority: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("NATS authority: %w", err)
	}
	return a, nil
}

func (k authKeys) check() error {
	for name, s := range map[string]string{"operator": k.Operator, "operator_signing": k.OperatorSigning,
		"sys": k.Sys, "sys_signing": k.SysSigning, "app": k.App, "app_signing": k.AppSigning,
		"coordinator": k.Coordinator, "sys_user": k.SysUser} {
		if _, err := nkeys.FromSeed([]byte(s)); err != nil {
			return fmt.Errorf("key %s: not a valid seed", name)
		}
	}
	return nil
}

func kp(seed string) nkeys.KeyPair {
	k, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		panic("bus: authority seed checked at load is invalid: " + err.Error())
	}
	return k
}

func pub(seed string) string {
	p, _ := kp(seed).PublicKey()
	return p
}

// OperatorJWT is the operator the NATS servers trust.
func (a *Authority) OperatorJWT() (string, error) {
	oc := jwt.NewOperatorClaims(pub(a.keys.Operator))
	oc.Name = "hilsearch"
	oc.SystemAccount = pub(a.keys.Sys)
	oc.SigningKeys.Add(pub(a.keys.OperatorSigning))
	oc.StrictSigningKeyUsage = true
	return oc.Encode(kp(a.keys.Operator))
}

// OperatorPublicKey is the operator's public key.
func (a *Authority) OperatorPublicKey() string { return pub(a.keys.Operator) }

// SysPublicKey is the system account's public key.
func (a *Authority) SysPublicKey() string { return pub(a.keys.Sys) }

// AppPublicKey is the application account's public key.
func (a *Authority) AppPublicKey() string { return pub(a.keys.App) }

// SysAccountJWT is the system account (no JetStream: NATS refuses it there).
func (a *Authority) SysAccountJWT() (string, error) {
	ac := jwt.NewAccountClaims(pub(a.keys.Sys))
	ac.Name = SysAccountName
	ac.SigningKeys.Add(pub(a.keys.SysSigning))
	return ac.Encode(kp(a.keys.OperatorSigning))
}

// AppAccountJWT is the application account with JetStream enabled and
// every revoked user key listed.
func (a *Authority) AppAccountJWT() (string, error) {
	ac := jwt.NewAccountClaims(pub(a.keys.App))
	ac.Name = AppAccountName
	ac.SigningKeys.Add(pub(a.keys.AppSigning))
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{DiskStorage: -1, MemoryStorage: -1,
		Streams: -1, Consumer: -1, MaxAckPending: -1, MemoryMaxStreamBytes: -1, DiskMaxStreamBytes: -1}
	// Every publish of the account (agents' results and heartbeats, the
	// coordinator's jobs) is bounded by the server: a larger one is
	// refused with "Maximum Payload Violation".
	ac.Limits.Payload = wire.MaxMessageBytes
	a.mu.Lock()
	for k, at := range a.revoked {
		ac.RevokeAt(k, time.Unix(at, 0))
	}
	a.mu.Unlock()
	return ac.Encode(kp(a.keys.OperatorSigning))
}

// Revoke adds user keys to the revocation list: every JWT issued for them
// up to now is refused at connect and their open connections are closed
// once the new account JWT is pushed (see Bus.PushAccount). A revoked key
// is never signed again (IssueUser refuses it).
func (a *Authority) Revoke(userKeys ...string) {
	now := time.Now().Unix()
	a.mu.Lock()
	for _, k := range userKeys {
		if _, ok := a.revoked[k]; !ok {
			a.revoked[k] = now
		}
	}
	a.mu.Unlock()
}

// IsRevoked reports whether key is on the revocation list.
func (a *Authority) IsRevoked(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.revoked[key]
	return ok
}

// UserSpec describes one NATS user of the application account. The kinds
// of user (agents today, evaluators next) differ only in their
// permissions: AgentUser builds an agent's; an evaluator's is another
// function returning a UserSpec.
type UserSpec struct {
	// NKey is the user's public key ("U…"); its seed stays with the user.
	NKey string
	// Name is shown in the server's connection list, e.g. "agent-<id>".
	Name        string
	Permissions jwt.Permissions
	// TTL bounds the JWT's life (0: no expiry).
	TTL time.Duration
}

// ErrRevokedKey means a JWT was requested for a revoked key.
var ErrRevokedKey = errors.New("NATS key is revoked")

// IssueUser signs a user JWT for u with the application account's signing
// key.
func (a *Authority) IssueUser(u UserSpec) (string, error) {
	if !nkeys.IsValidPublicUserKey(u.NKey) {
		return "", fmt.Errorf("NATS user key %q is not a public user key", u.NKey)
	}
	if a.IsRevoked(u.NKey) {
		return "", ErrRevokedKey
	}
	uc := jwt.NewUserClaims(u.NKey)
	uc.Name = u.Name
	uc.IssuerAccount = pub(a.keys.App)
	uc.Permissions = u.Permissions
	if u.TTL > 0 {
		uc.Expires = time.Now().Add(u.TTL).Unix()
	}
	return uc.Encode(kp(a.keys.AppSigning))
}

// coordinatorUser is the coordinator's own user JWT and key: all subjects.
func (a *Authority) coordinatorUser() (string, nkeys.KeyPair, error) {
	k := kp(a.keys.Coordinator)
	p, _ := k.PublicKey()
	uc := jwt.NewUserClaims(p)
	uc.Name = "coordinator"
	uc.IssuerAccount = pub(a.keys.App)
	j, err := uc.Encode(kp(a.keys.AppSigning))
	return j, k, err
}

// sysUser is the system-account user that pushes account updates.
func (a *Authority) sysUser() (string, nkeys.KeyPair, error) {
	k := kp(a.keys.SysUser)
	p, _ := k.PublicKey()
	uc := jwt.NewUserClaims(p)
	uc.Name = "coordinator-sys"
	uc.IssuerAccount = pub(a.keys.Sys)
	j, err := uc.Encode(kp(a.keys.SysSigning))
	return j, k, err
}

// ServerConfig describes one NATS server for ServerConfigText.
type ServerConfig struct {
	// Name is the server_name (unique per cluster node).
	Name string
	// Listen is the client address, host:port.
	Listen string
	// StoreDir is the JetStream store; ResolverDir the account JWT store
	// (resolver type full).
	StoreDir, ResolverDir string
	// MaxPayload in bytes (0: the server's default).
	MaxPayload int
	// ClusterName, ClusterListen and Routes make the server one node of a
	// cluster: the cluster block (name, route listen address host:port,
	// the other nodes' nats://host:port route URLs). Every node is written
	// with the same operator, system account and resolver, so all accept
	// the same user JWTs; route connections are not authenticated (no
	// cluster authorization or TLS is written).
	ClusterName, ClusterListen string
	Routes                     []string
}

// ServerConfigText is a nats-server configuration file trusting this
// authority: the operator and system account inline, a full (directory)
// resolver that persists pushed account JWTs, and the system account
// preloaded. The application account is pushed by the coordinator at
// start and on every revocation. It contains no secret.
func (a *Authority) ServerConfigText(c ServerConfig) (string, error) {
	op, err := a.OperatorJWT()
	if err != nil {
		return "", err
	}
	sys, err := a.SysAccountJWT()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# Generated by `coordinator nats-config`: decentralized JWT auth.\n")
	b.WriteString("# The coordinator holds the signing keys; this file holds no secret.\n")
	if c.Name != "" {
		fmt.Fprintf(&b, "server_name: %s\n", strconv.Quote(c.Name))
	}
	fmt.Fprintf(&b, "listen: %s\n", strconv.Quote(c.Listen))
	if c.MaxPayload > 0 {
		fmt.Fprintf(&b, "max_payload: %d\n", c.MaxPayload)
	}
	fmt.Fprintf(&b, "jetstream { store_dir: %s }\n", strconv.Quote(c.StoreDir))
	fmt.Fprintf(&b, "operator: %s\n", strconv.Quote(op))
	fmt.Fprintf(&b, "system_account: %s\n", a.SysPublicKey())
	fmt.Fprintf(&b, "resolver: { type: full, dir: %s, allow_delete: false, interval: \"2m\", timeout: \"1.9s\" }\n", strconv.Quote(c.ResolverDir))
	fmt.Fprintf(&b, "resolver_preload: {\n  %s: %s\n}\n", a.SysPublicKey(), strconv.Quote(sys))
	if c.ClusterName != "" {
		fmt.Fprintf(&b, "cluster {\n  name: %s\n  listen: %s\n", strconv.Quote(c.ClusterName), strconv.Quote(c.ClusterListen))
		if len(c.Routes) > 0 {
			b.WriteString("  routes: [\n")
			for _, r := range c.Routes {
				fmt.Fprintf(&b, "    %s\n", strconv.Quote(r))
			}
			b.WriteString("  ]\n")
		}
		b.WriteString("}\n")
	}
	return b.String(), nil
}
