package config

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// StoreDriver names a credential store backend.
type StoreDriver string

// The store backends.
const (
	StoreSQLite   StoreDriver = "sqlite"
	StorePostgres StoreDriver = "postgres"
)

// Store is the parsed store setting.
type Store struct {
	// Driver is sqlite or postgres.
	Driver StoreDriver
	// Path is the SQLite database file, resolved against the config's folder (sqlite).
	Path string
	// DSN is the PostgreSQL connection URL as written (postgres). It may hold a password:
	// print the Store with String, which redacts it.
	DSN string
}

// String describes the store without any password.
func (s Store) String() string {
	switch s.Driver {
	case StoreSQLite:
		return "sqlite://" + s.Path
	case StorePostgres:
		u, err := url.Parse(s.DSN)
		if err != nil {
			return "postgres://[unparsable]"
		}
		return u.Redacted()
	}
	return ""
}

// MarshalJSON encodes the store as String does, so a dumped Config never holds the
// database password.
func (s Store) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// LogValue logs the store as String does.
func (s Store) LogValue() slog.Value { return slog.StringValue(s.String()) }

// ParseStore parses a store setting: sqlite://PATH (relative to dir), sqlite:///ABS/PATH,
// or postgres://... (also postgresql://). Errors never quote s, which may hold a password.
func ParseStore(s, dir string) (Store, error) {
	if rest, ok := strings.CutPrefix(s, "sqlite://"); ok {
		if rest == "" {
			return Store{}, errors.New("sqlite:// needs a file path, such as sqlite://gatehouse.db")
		}
		if strings.ContainsAny(rest, "?#") {
			return Store{}, errors.New(`sqlite paths cannot hold "?" or "#": options in the URL are not supported`)
		}
		p := filepath.FromSlash(rest)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return Store{Driver: StoreSQLite, Path: filepath.Clean(p)}, nil
	}
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		if _, err := url.Parse(s); err != nil {
			// url errors quote the whole URL, password included: do not wrap.
			return Store{}, errors.New("the postgres URL does not parse")
		}
		return Store{Driver: StorePostgres, DSN: s}, nil
	}
	return Store{}, errors.New("unsupported store: use sqlite://PATH, sqlite:///ABSOLUTE/PATH or postgres://USER@HOST/DB")
}

// RedisURL is a redis:// or rediss:// URL. It may hold a password: print it with String,
// which redacts it.
type RedisURL string

// String is the URL with any password replaced by xxxxx.
func (r RedisURL) String() string {
	if r == "" {
		return ""
	}
	u, err := url.Parse(string(r))
	if err != nil {
		return "redis://[unparsable]"
	}
	return u.Redacted()
}

// MarshalJSON encodes the URL as String does, so a dumped Config never holds the Redis
// password.
func (r RedisURL) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// LogValue logs the URL as String does.
func (r RedisURL) LogValue() slog.Value { return slog.StringValue(r.String()) }

// ParseRedisURL checks a failure_budget.redis setting: redis:// or rediss://, a host,
// and an optional database number as the path. Errors never quote s, which may hold a
// password.
func ParseRedisURL(s string) (RedisURL, error) {
	u, err := url.Parse(s)
	if err != nil {
		// url errors quote the whole URL, password included: do not wrap.
		return "", errors.New("the redis URL does not parse")
	}
	switch u.Scheme {
	case "redis", "rediss":
	default:
		return "", errors.New("unsupported redis URL scheme: use redis://HOST:PORT/DB, or rediss:// for TLS")
	}
	if u.Hostname() == "" {
		return "", errors.New("the redis URL has no host: use redis://HOST:PORT/DB")
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return "", errors.New("the path of the redis URL must be a database number, as in redis://HOST:6379/0")
		}
	}
	return RedisURL(s), nil
}
