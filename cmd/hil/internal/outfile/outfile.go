// Package outfile writes the output files of hil's -o flags without
// harming what the name points at.
//
// A regular file (or a name not yet taken) is written through a temporary
// file beside it and renamed into place on Commit, so a failed download
// leaves no partial file. Anything else (a character device such as
// /dev/null, a FIFO, a symlink, a socket) is opened and written in place:
// renaming over it would replace the device, the pipe or the link with a
// regular file. The name "-" means standard output.
package outfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is an output being written. Write to it, then Commit or Abort;
// Abort after Commit does nothing, so "defer f.Abort()" is safe.
type File struct {
	w      io.Writer
	f      *os.File // nil for standard output
	path   string   // target; "" until Commit names it
	tmp    bool     // f is a temporary file to rename to path
	dir    string
	closed bool
}

// Stdout is the name that means standard output.
const Stdout = "-"

// Create starts writing path; "-" writes to stdout.
func Create(path string, stdout io.Writer) (*File, error) {
	if path == Stdout {
		return &File{w: stdout}, nil
	}
	if path == "" {
		return nil, errors.New("output: empty file name")
	}
	return create(path, filepath.Dir(path))
}

// CreateIn starts writing a file of dir whose name is given to
// CommitAs later (when only the answer tells the name).
func CreateIn(dir string) (*File, error) {
	return create("", dir)
}

func create(path, dir string) (*File, error) {
	if path != "" {
		regular, err := replaceable(path)
		if err != nil {
			return nil, err
		}
		if !regular {
			// O_TRUNC is ignored by devices and FIFOs; without O_CREATE
			// a dangling symlink is an error, not a surprise file.
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				return nil, fmt.Errorf("open output: %w", err)
			}
			return &File{w: f, f: f, path: path}, nil
		}
	}
	f, err := os.CreateTemp(dir, ".hil-out-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create output: %w", err)
	}
	// CreateTemp makes the file private; an export is an ordinary file.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("create output: %w", err)
	}
	return &File{w: f, f: f, path: path, tmp: true, dir: dir}, nil
}

// replaceable reports whether path may be replaced by a rename: it does
// not exist or is a regular file (not a symlink to one).
func replaceable(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("output: %w", err)
	}
	if fi.IsDir() {
		return false, fmt.Errorf("output: %s is a directory", path)
	}
	return fi.Mode().IsRegular(), nil
}

func (o *File) Write(p []byte) (int, error) { return o.w.Write(p) }

// Name is the target's name ("-" for standard output, "" while unnamed).
func (o *File) Name() string {
	if o.f == nil {
		return Stdout
	}
	return o.path
}

// Commit finishes the file started with Create.
func (o *File) Commit() error { return o.CommitAs(o.path) }

// CommitAs finishes the file, naming it when CreateIn started it (name is
// taken relative to that directory unless absolute); for a file started
// with Create, name must be "" or its path.
func (o *File) CommitAs(name string) error {
	if o.closed {
		return errors.New("output: already finished")
	}
	o.closed = true
	if o.f == nil {
		return nil
	}
	if !o.tmp {
		return o.f.Close()
	}
	if err := o.f.Close(); err != nil {
		os.Remove(o.f.Name())
		return fmt.Errorf("close output: %w", err)
	}
	if o.path == "" {
		if name == "" {
			os.Remove(o.f.Name())
			return errors.New("output: no file name")
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(o.dir, name)
		}
		o.path = name
	} else if name != "" && name != o.path {
		os.Remove(o.f.Name())
		return fmt.Errorf("output: started as %s, not %s", o.path, name)
	}
	regular, err := replaceable(o.path)
	if err != nil {
		os.Remove(o.f.Name())
		return err
	}
	if regular {
		if err := os.Rename(o.f.Name(), o.path); err != nil {
			os.Remove(o.f.Name())
			return fmt.Errorf("output: %w", err)
		}
		return nil
	}
	// The name turned out to be a device, FIFO or link (only possible for
	// CreateIn, or when it changed meanwhile): copy into it in place.
	defer os.Remove(o.f.Name())
	src, err := os.Open(o.f.Name())
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(o.path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("open output: %w", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	return dst.Close()
}

// Abort discards a file not yet committed: a temporary file is removed,
// a file written in place is closed as it is.
func (o *File) Abort() {
	if o.closed {
		return
	}
	o.closed = true
	if o.f == nil {
		return
	}
	o.f.Close()
	if o.tmp {
		os.Remove(o.f.Name())
	}
}
