package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultConfigPathFallsBackNextToTheBinary(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{home, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A $HOME that is a file stands for one the user may not write (this
	// test may run as root, which writes anywhere permission bits forbid).
	badHome := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(badHome, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	userCfg := filepath.Join(home, ".config", "hilsearch", "agent.json")
	exeCfg := filepath.Join(bin, "hilsearch", "agent.json")

	for _, tt := range []struct {
		name    string
		userDir string
		userErr error
		exeDir  string
		want    string
	}{
		{"writable home", filepath.Join(home, ".config"), nil, bin, userCfg},
		{"home not writable", filepath.Join(badHome, ".config"), nil, bin, exeCfg},
		{"no home", "", errors.New("neither $XDG_CONFIG_HOME nor $HOME are defined"), bin, exeCfg},
	} {
		got, err := defaultConfigPath(tt.userDir, tt.userErr, tt.exeDir)
		if err != nil || got != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if ents, _ := os.ReadDir(home); len(ents) != 0 {
		t.Errorf("the writability probe left %v in the home directory", ents)
	}

	// An identity next to the binary is found even when $HOME is writable.
	if err := os.MkdirAll(filepath.Dir(exeCfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exeCfg, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := defaultConfigPath(filepath.Join(home, ".config"), nil, bin); got != exeCfg {
		t.Errorf("existing identity next to the binary: got %q", got)
	}
	// With both present, the user config directory wins.
	if err := os.MkdirAll(filepath.Dir(userCfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(userCfg, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := defaultConfigPath(filepath.Join(home, ".config"), nil, bin); got != userCfg {
		t.Errorf("both present: got %q", got)
	}

	// Nowhere to write: a clear error naming --config.
	_, err := defaultConfigPath(filepath.Join(badHome, ".config"), nil, filepath.Join(badHome, "bin"))
	if err == nil || !strings.Contains(err.Error(), "pass --config") {
		t.Errorf("nowhere writable: %v", err)
	}
}
