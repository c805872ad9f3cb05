package config

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
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
	// Password is the PostgreSQL password from store.password or store.password_file,
	// for a URL written without one (postgres).
	Password Secret
	// MaxConns and MinConns size the connection pool (postgres); 0 means the backend's
	// default (10 and 0).
	MaxConns, MinConns int
	// ConnectTimeout bounds one connection attempt, QueryTimeout one statement;
	// MaxConnLifetime and MaxConnIdleTime retire pooled connections (postgres). 0 means
	// the backend's default (5s, 10s, 1h, 30m).
	ConnectTimeout, QueryTimeout, MaxConnLifetime, MaxConnIdleTime time.Duration
}

// Equal reports whether two store settings name the same store with the same settings.
func (s Store) Equal(o Store) bool {
	return s.Driver == o.Driver && s.Path == o.Path && s.DSN == o.DSN &&
		slices.Equal(s.Password.Reveal(), o.Password.Reveal()) &&
		s.MaxConns == o.MaxConns && s.MinConns == o.MinConns &&
		s.ConnectTimeout == o.ConnectTimeout && s.QueryTimeout == o.QueryTimeout &&
		s.MaxConnLifetime == o.MaxConnLifetime && s.MaxConnIdleTime == o.MaxConnIdleTime
}

// String describes the store without any password: one in the URL's user part or in a
// query parameter shows as xxxxx.
func (s Store) String() string {
	switch s.Driver {
	case StoreSQLite:
		return "sqlite://" + s.Path
	case StorePostgres:
		u, err := url.Parse(s.DSN)
		if err != nil {
			return "postgres://[unparsable]"
		}
		// libpq also takes the password (and a client key's, sslpassword) as a query
		// parameter, which url.Redacted leaves alone.
		if q := u.Query(); len(q) > 0 {
			changed := false
			for k := range q {
				if strings.Contains(strings.ToLower(k), "password") {
					q[k] = []string{"xxxxx"}
					changed = true
				}
			}
			if changed {
				u.RawQuery = q.Encode()
			}
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

// storeKeys are the keys of the store block, the mapping form of store.
var storeKeys = []string{"url", "password", "password_file", "max_conns", "min_conns",
	"connect_timeout", "query_timeout", "max_conn_lifetime", "max_conn_idle_time"}

// storeSetting decodes store: a URL, or a mapping with the URL and the PostgreSQL
// password and pool settings.
func (d *decoder) storeSetting(e entry, c *Config) {
	const path = "store"
	if r := d.resolve(e.val); r == nil || r.Kind != yaml.MappingNode {
		if s, ok := d.scalar(e.val, path, "a store URL or a mapping with url"); ok && s.text != "" {
			st, err := ParseStore(s.text, d.dir)
			if err != nil {
				d.fail(path, s.line, "%v", err)
			} else {
				c.Store = st
			}
		}
		return
	}
	entries, ok := d.mapping(e.val, path)
	if !ok {
		return
	}
	byKey := make(map[string]entry, len(entries))
	for _, k := range entries {
		byKey[k.key] = k
		d.src[join(path, k.key)] = origin{line: k.line}
		if !slices.Contains(storeKeys, k.key) {
			d.unknownKey(k, " in store", storeKeys)
		}
	}
	st := Store{}
	u, hasURL := byKey["url"]
	if !hasURL {
		d.fail(path, e.line, "the store mapping needs url (sqlite://PATH or postgres://USER@HOST/DB)")
		d.bad[path] = true
	} else if s, ok := d.scalar(u.val, "store.url", "a store URL"); ok {
		parsed, err := ParseStore(s.text, d.dir)
		if err != nil {
			d.fail("store.url", s.line, "%v", err)
			d.bad[path] = true
		} else {
			st = parsed
		}
	}
	each(byKey, path, storeKeys, func(key string, val *yaml.Node, p string) {
		switch key {
		case "max_conns":
			d.setInt(val, p, &st.MaxConns)
		case "min_conns":
			d.setInt(val, p, &st.MinConns)
		case "connect_timeout":
			d.setDuration(val, p, &st.ConnectTimeout)
		case "query_timeout":
			d.setDuration(val, p, &st.QueryTimeout)
		case "max_conn_lifetime":
			d.setDuration(val, p, &st.MaxConnLifetime)
		case "max_conn_idle_time":
			d.setDuration(val, p, &st.MaxConnIdleTime)
		}
	})
	st.Password = d.secret(byKey, "password", path)
	if st.Driver == "" {
		return // reported above; keep the default store so nothing else complains
	}
	c.Store = st
}

// sslModes are libpq's sslmode values.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// postgresStore checks what can be known about a PostgreSQL store without connecting:
// the URL's shape, its sslmode, a password given twice, the pool settings. Whether the
// server answers, the database exists and the role has its rights is checked by serve
// (and `gatehouse store migrate`) at start.
func (v *validator) postgresStore() {
	s := v.c.Store
	at := "store"
	if _, mapping := v.src["store.url"]; mapping {
		at = "store.url"
	}
	u, err := url.Parse(s.DSN)
	if err != nil {
		v.problemf(at, "the postgres URL does not parse")
		return
	}
	q := u.Query()
	if strings.Trim(u.Path, "/") == "" && q.Get("dbname") == "" {
		v.problemf(at, "the postgres URL names no database: write postgres://USER@HOST/DATABASE")
	}
	for _, hp := range strings.Split(u.Host, ",") {
		if i := strings.LastIndex(hp, ":"); i >= 0 && !strings.HasSuffix(hp, "]") {
			if p, err := strconv.Atoi(hp[i+1:]); err != nil || p < 1 || p > 65535 {
				v.problemf(at, "the postgres URL has a port that is not a number from 1 to 65535")
			}
		}
	}
	if m := q.Get("sslmode"); q.Has("sslmode") && !slices.Contains(sslModes, m) {
		v.problemf(at, "sslmode %q is not one of %s", m, strings.Join(sslModes, ", "))
	}
	_, urlHasPassword := u.User.Password()
	if !s.Password.IsZero() && (urlHasPassword || q.Has("password")) {
		v.problemf("store.password", "the password is also in the store URL: keep one")
	}
	if s.MaxConns < 0 || s.MinConns < 0 {
		v.problemf("store", "max_conns and min_conns cannot be negative")
	} else if s.MaxConns > 10000 || s.MinConns > 10000 {
		v.problemf("store", "max_conns and min_conns are at most 10000: a server rarely accepts even 1000 connections")
	} else if s.MaxConns > 0 && s.MinConns > s.MaxConns {
		v.problemf("store.min_conns", "is more than max_conns (%d)", s.MaxConns)
	} else if s.MaxConns == 0 && s.MinConns > 10 {
		v.problemf("store.min_conns", "is more than the default max_conns (10): set max_conns too")
	}
	for key, d := range map[string]time.Duration{"connect_timeout": s.ConnectTimeout, "query_timeout": s.QueryTimeout,
		"max_conn_lifetime": s.MaxConnLifetime, "max_conn_idle_time": s.MaxConnIdleTime} {
		if d < 0 {
			v.problemf("store."+key, "cannot be negative")
		}
	}
}

// sqliteStoreHasNoPool reports PostgreSQL settings given to a SQLite store.
func (v *validator) sqliteStoreHasNoPool() {
	s := v.c.Store
	if !s.Password.IsZero() || s.MaxConns != 0 || s.MinConns != 0 || s.ConnectTimeout != 0 ||
		s.QueryTimeout != 0 || s.MaxConnLifetime != 0 || s.MaxConnIdleTime != 0 {
		v.problemf("store", "password and pool settings apply to a postgres store only; a sqlite store has none")
	}
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
