package store

import "errors"

// Errors every backend returns, wrapped with the operation's name and (for the
// unavailable kinds) the driver's error. Test for them with errors.Is.
var (
	// ErrNotFound: no key or user with that id or name.
	ErrNotFound = errors.New("not found")
	// ErrExists: a key id or user name is already taken.
	ErrExists = errors.New("already exists")
	// ErrRevoked: the operation needs a key that is not revoked (rotating a revoked key).
	ErrRevoked = errors.New("key is revoked")
	// ErrInvalid: a record failed validation before anything was written.
	ErrInvalid = errors.New("invalid record")
	// ErrChangesPruned: the changes after the requested sequence number were pruned, so a
	// follower must drop everything it cached and start again from LatestChange.
	ErrChangesPruned = errors.New("changes pruned")

	// ErrUnavailable: the store cannot serve the operation right now or at all. Every
	// error below also matches ErrUnavailable, and so does any driver error the backend
	// could not classify. The gateway answers it with 503, never 401.
	ErrUnavailable = errors.New("store unavailable")
	// ErrLocked: another connection held the write lock past the busy timeout.
	ErrLocked error = &unavailableError{"store is locked by another writer (busy timeout exceeded)"}
	// ErrReadOnly: the store file or its directory is not writable, or it was opened
	// read-only.
	ErrReadOnly error = &unavailableError{"store is read-only"}
	// ErrCorrupt: the file is not a database, or its pages are damaged.
	ErrCorrupt error = &unavailableError{"store file is corrupt or not a database"}
	// ErrFull: the disk (or the database's size limit) is full; nothing was written.
	ErrFull error = &unavailableError{"store is full (disk full or size limit reached)"}
	// ErrSchemaTooNew: the store was migrated by a newer Gatehouse.
	ErrSchemaTooNew error = &unavailableError{"store schema is newer than this gatehouse"}
)

// unavailableError is an error kind that is also ErrUnavailable.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }
func (e *unavailableError) Unwrap() error { return ErrUnavailable }
