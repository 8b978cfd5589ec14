package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// enrollOptions are the flags of `device-agent enroll`.
type enrollOptions struct {
	coordinator string
	token       string
	name        string
	tags        []string
	config      string
	force       bool
	// llamaBench is the llama-bench executable (--llama-bench; see
	// llamaBenchPath for the defaults).
	llamaBench string
}

// runEnroll implements `device-agent enroll`.
func runEnroll(ctx context.Context, args []string, st IO) error {
	fl := flag.NewFlagSet("enroll", flag.ContinueOnError)
	fl.SetOutput(st.Stderr)
	var o enrollOptions
	var tags string
	fl.StringVar(&o.coordinator, "coordinator", "", "coordinator base URL, e.g. http://10.0.0.2:8080 (required)")
	fl.StringVar(&o.token, "token", "", "one-time enrollment token from the dashboard (required; or env HIL_ENROLL_TOKEN)")
	fl.StringVar(&o.name, "name", "", "display name of this device. Defaults to the host name")
	fl.StringVar(&tags, "tags", "", "comma-separated tags, e.g. lab,phone")
	fl.StringVar(&o.config, "config", "", "identity file. Defaults to <user config dir>/hilsearch/agent.json, or hilsearch/agent.json next to this binary when $HOME is not writable")
	fl.BoolVar(&o.force, "force", false, "enroll again even if this device already has an identity")
	fl.StringVar(&o.llamaBench, "llama-bench", "", "llama.cpp's llama-bench executable, for jobs with runtime llama.cpp; stored in the identity file. Defaults to $"+envLlamaBench+", then llama-bench on PATH")
	fl.Usage = func() {
		fmt.Fprintln(st.Stderr, "usage: device-agent enroll --coordinator URL --token T [--name N] [--tags a,b] [--config FILE] [--force]\n\n"+
			"Creates this device's NATS key pair (the seed stays on the device), sends the public key\n"+
			"and the hardware profile to the coordinator, and stores the identity with mode 0600.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(st.Stderr, "device-agent enroll: unexpected argument %q\n", fl.Arg(0))
		return errUsage
	}
	if o.token == "" {
		o.token = os.Getenv("HIL_ENROLL_TOKEN")
	}
	for _, t := range strings.Split(tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.tags = append(o.tags, t)
		}
	}
	if o.config == "" {
		p, err := DefaultConfigPath()
		if err != nil {
			return err
		}
		o.config = p
	}
	cfg, err := enroll(ctx, o, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(st.Stdout, "enrolled as device %s (%s), class %s\nidentity stored in %s\nstart measuring with: device-agent run --config %s\n",
		cfg.DeviceID, cfg.Name, cfg.Class, o.config, o.config)
	return nil
}

// enroll performs the enrollment and stores the identity. client may be
// nil (a client with a 30 s timeout is used).
func enroll(ctx context.Context, o enrollOptions, client *http.Client) (*Config, error) {
	if o.coordinator == "" {
		return nil, errors.New("--coordinator: required")
	}
	base, err := url.Parse(strings.TrimRight(o.coordinator, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--coordinator %q: must be an http or https URL", o.coordinator)
	}
	if o.token == "" {
		return nil, errors.New("--token: required (or set HIL_ENROLL_TOKEN)")
	}
	if _, err := os.Stat(o.config); err == nil && !o.force {
		return nil, fmt.Errorf("this device is already enrolled (%s exists); pass --force to enroll again with a new identity", o.config)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--config %s: %w", o.config, err)
	}

	prof, err := localProfile(ctx)
	if err != nil {
		return nil, fmt.Errorf("hardware profile: %w", err)
	}
	dp := withRuntimes(ctx, prof, o.llamaBench)
	profJSON, err := json.Marshal(dp)
	if err != nil {
		return nil, fmt.Errorf("encode profile: %w", err)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("create key pair: %w", err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	body, err := json.Marshal(wire.EnrollRequest{
		Token: o.token, NKey: pub, Name: o.name, Tags: o.tags, Class: prof.Class, Profile: profJSON,
	})
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+"/api/v1/agents/enroll", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("enroll at %s: %w", base.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("enroll: read response: %w", err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("enroll refused: %s", apiErrorMessage(resp.StatusCode, data))
	}
	var er wire.EnrollResponse
	if err := json.Unmarshal(data, &er); err != nil {
		return nil, fmt.Errorf("enroll: decode response: %w", err)
	}
	if er.NATS.NKey != pub {
		return nil, fmt.Errorf("enroll: the coordinator returned key %q, not ours", er.NATS.NKey)
	}
	cfg := &Config{
		Coordinator: base.String(), DeviceID: er.DeviceID, Name: er.Name, Class: er.Class,
		NATS: er.NATS, Seed: string(seed), EnrolledAt: time.Now().UTC(), LlamaBench: o.llamaBench,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("enroll: incomplete identity from the coordinator: %w", err)
	}
	if err := SaveConfig(o.config, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// apiErrorMessage renders a coordinator error body {code, message,
// details} for people; it never echoes the request (which held the token).
func apiErrorMessage(status int, body []byte) string {
	var e struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		s := fmt.Sprintf("%d %s: %s", status, e.Code, e.Message)
		if len(e.Details) > 0 && string(e.Details) != "null" {
			s += " " + string(e.Details)
		}
		return s
	}
	b := strings.TrimSpace(string(body))
	if len(b) > 200 {
		b = b[:200] + "…"
	}
	return fmt.Sprintf("%d %s", status, b)
}
