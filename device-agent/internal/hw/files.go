package hw

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// files reads the root file system of an Env; a nil FS reads nothing.
type files struct{ fsys fs.FS }

// errNoFS is returned for every read when the Env has no file system.
var errNoFS = errors.New("no file system")

// read returns the trimmed content of p (relative to "/").
func (f files) read(p string) (string, error) {
	if f.fsys == nil {
		return "", errNoFS
	}
	b, err := fs.ReadFile(f.fsys, p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// str returns the trimmed content of p, or "" when it cannot be read.
func (f files) str(p string) string {
	s, _ := f.read(p)
	return s
}

// int64 parses the content of p as a decimal integer.
func (f files) int64(p string) (int64, bool) {
	s, err := f.read(p)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// exists reports whether p exists.
func (f files) exists(p string) bool {
	if f.fsys == nil {
		return false
	}
	_, err := fs.Stat(f.fsys, p)
	return err == nil
}

// dirNames lists the names in directory dir that start with prefix, sorted
// by their numeric suffix when they have one ("policy2" before "policy10").
func (f files) dirNames(dir, prefix string) []string {
	if f.fsys == nil {
		return nil
	}
	ents, err := fs.ReadDir(f.fsys, dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		na, ea := strconv.Atoi(strings.TrimPrefix(a, prefix))
		nb, eb := strconv.Atoi(strings.TrimPrefix(b, prefix))
		if ea == nil && eb == nil && na != nb {
			return na - nb
		}
		return strings.Compare(a, b)
	})
	return names
}

// join is path.Join, for fs.FS paths.
func join(elem ...string) string { return path.Join(elem...) }

// parseCPUList parses the kernel's CPU list format ("0-3,6,8-9"), as in
// /sys/devices/system/cpu/online and Cpus_allowed_list. It also accepts the
// space-separated lists of cpufreq's related_cpus ("0 1 2").
func parseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: bad number %q", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: bad number %q", s, hi)
			}
		}
		if b < a || b-a > 1<<16 {
			return nil, fmt.Errorf("cpu list %q: bad range %q", s, part)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// formatCPUList writes sorted CPU ids in the kernel's list format.
func formatCPUList(ids []int) string {
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", ids[i], ids[j])
		} else {
			fmt.Fprintf(&b, "%d", ids[i])
		}
		i = j + 1
	}
	return b.String()
}

// firstLine returns the first line of s, trimmed.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}

// parseKeyValues parses "key: value" or "key = value" lines (sep is the
// separator) into a map; keys and values are trimmed, later keys win.
func parseKeyValues(s, sep string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, sep)
		if !ok {
			continue
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}
