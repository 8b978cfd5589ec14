package outfile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// NullDevice makes a private character device with /dev/null's numbers
// (1, 3) in a test directory, so tests of "-o /dev/null" never touch the
// machine's real /dev/null. It skips the test when the process may not
// make device nodes (not root, or a nodev mount).
func NullDevice(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "null")
	if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("cannot make a character device here (needs root): %v", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("character device unusable here (nodev mount?): %v", err)
	}
	f.Close()
	return p
}

func write(t *testing.T, path, text string) error {
	t.Helper()
	f, err := Create(path, nil)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := io.WriteString(f, text); err != nil {
		return err
	}
	return f.Commit()
}

func noTemps(t *testing.T, dir string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(dir, ".hil-out-*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestRegularFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.json")
	if err := write(t, p, "one"); err != nil {
		t.Fatal(err)
	}
	if err := write(t, p, "two"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if err != nil || string(b) != "two" || fi.Mode().Perm() != 0o644 {
		t.Fatalf("content %q mode %v: %v", b, fi.Mode(), err)
	}
	// Abort leaves neither the target nor a temporary file.
	f, err := Create(filepath.Join(dir, "aborted"), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "partial")
	f.Abort()
	if _, err := os.Stat(filepath.Join(dir, "aborted")); !os.IsNotExist(err) {
		t.Fatalf("aborted output exists: %v", err)
	}
	noTemps(t, dir)
}

func TestCharDevice(t *testing.T) {
	null := NullDevice(t)
	if err := write(t, null, "discarded"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(null)
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a character device: %v %v", null, fi.Mode(), err)
	}
	noTemps(t, filepath.Dir(null))
	// Named after the download (CreateIn) the device is also kept.
	f, err := CreateIn(filepath.Dir(null))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "discarded")
	if err := f.CommitAs("null"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(null); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a character device: %v %v", null, fi.Mode(), err)
	}
	noTemps(t, filepath.Dir(null))
}

func TestSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.json")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := write(t, link, "new"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(link)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Fatalf("link target holds %q", b)
	}
	// A dangling link is an error, not a new file somewhere.
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere", "x"), dangling); err != nil {
		t.Fatal(err)
	}
	if err := write(t, dangling, "x"); err == nil {
		t.Fatal("writing through a dangling link succeeded")
	}
	noTemps(t, dir)
}

func TestFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- "open: " + err.Error()
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- string(b)
	}()
	if err := write(t, fifo, "through the pipe"); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "through the pipe" {
			t.Fatalf("reader got %q", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("reader got nothing")
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("FIFO replaced: %v %v", fi.Mode(), err)
	}
	noTemps(t, dir)
}

func TestStdoutAndErrors(t *testing.T) {
	var buf bytes.Buffer
	f, err := Create("-", &buf)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "to stdout")
	if err := f.Commit(); err != nil || buf.String() != "to stdout" || f.Name() != "-" {
		t.Fatalf("stdout: %q %v", buf.String(), err)
	}
	dir := t.TempDir()
	if _, err := Create(dir, nil); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("a directory as output: %v", err)
	}
	if _, err := Create("", nil); err == nil {
		t.Fatal("empty name accepted")
	}
	if _, err := Create(filepath.Join(dir, "no", "such", "dir", "x"), nil); err == nil {
		t.Fatal("output in a missing directory accepted")
	}
	noTemps(t, dir)
}
