package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxSecretBytes bounds a <key>_file secret.
const maxSecretBytes = 64 << 10

// readFileLimited reads a regular file of at most limit bytes. It refuses anything else
// (a FIFO or device would block or never end). Its errors name no content and no path, so
// callers choose how to show the path; they still match fs.ErrNotExist and
// fs.ErrPermission with errors.Is.
func readFileLimited(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, bareFileError(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, bareFileError(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, bareFileError(err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// bareFileError drops the operation and path from an *fs.PathError, keeping the cause
// ("no such file or directory").
func bareFileError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// resolvePath makes p absolute against dir; an empty dir leaves a relative p relative to
// the working directory.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// trimOneNewline removes exactly one trailing "\n" or "\r\n": what editors and
// `echo secret > file` add, while a value that really ends in a newline keeps the rest.
func trimOneNewline(b []byte) []byte {
	n := len(b)
	switch {
	case n >= 2 && b[n-2] == '\r' && b[n-1] == '\n':
		return b[:n-2]
	case n >= 1 && b[n-1] == '\n':
		return b[:n-1]
	}
	return b
}
