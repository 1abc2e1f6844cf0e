package httpapi_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// The fuzz targets of this package run every input on one server over one
// bbolt store, made once per target. Two things make that sound:
//
//   - every input starts from the same state: the store is snapshotted when
//     the target's setup is done, and put back after any input that wrote
//     (a failing input then fails again on its own, from the snapshot);
//   - whether an input wrote is read from the file itself: the id of the
//     last committed write transaction, in bbolt's meta pages. Any write,
//     audited or not, moves it; a refused request must leave it alone.

// fuzzStore is a domain.Store whose bbolt file can be put back to a
// snapshot between inputs (the service keeps the *fuzzStore, and the
// embedded store is swapped under it; inputs run one at a time).
type fuzzStore struct {
	domain.Store
	tb       testing.TB
	dir      string
	cur      *boltstore.Store
	snapshot []byte
}

func newFuzzStore(tb testing.TB) *fuzzStore {
	tb.Helper()
	s := &fuzzStore{tb: tb, dir: tb.TempDir()}
	s.open()
	tb.Cleanup(func() { s.cur.Close() })
	return s
}

func (s *fuzzStore) path() string { return filepath.Join(s.dir, "countersign.db") }

func (s *fuzzStore) open() {
	st, err := boltstore.Open(s.dir)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.cur, s.Store = st, st
}

// snap makes the current state the one every input starts from.
func (s *fuzzStore) snap() {
	s.tb.Helper()
	if err := s.cur.Close(); err != nil {
		s.tb.Fatal(err)
	}
	raw, err := os.ReadFile(s.path())
	if err != nil {
		s.tb.Fatal(err)
	}
	s.snapshot = raw
	s.open()
}

// reset puts the snapshot back.
func (s *fuzzStore) reset() {
	if err := s.cur.Close(); err != nil {
		s.tb.Fatal(err)
	}
	if err := os.WriteFile(s.path(), s.snapshot, 0o600); err != nil {
		s.tb.Fatal(err)
	}
	s.open()
}

// txid is the id of the last write transaction committed to the file.
func (s *fuzzStore) txid() uint64 {
	id, err := boltTxID(s.path())
	if err != nil {
		s.tb.Fatal(err)
	}
	return id
}

var metaPages = sync.Pool{New: func() any { return new([2][80]byte) }}

// boltTxID reads bbolt's two meta pages (page 0 and 1; the newer one is
// the file's state) and returns the larger transaction id. A meta page is
// the 16-byte page header, then magic, version, page size, flags (4 bytes
// each), the root bucket (16), the freelist and high-water page ids (8
// each) and the transaction id (8), in the machine's byte order.
func boltTxID(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := metaPages.Get().(*[2][80]byte)
	defer metaPages.Put(buf)
	if _, err := io.ReadFull(f, buf[0][:]); err != nil {
		return 0, err
	}
	const magic = 0xED0CDAED
	le := binary.NativeEndian
	if le.Uint32(buf[0][16:]) != magic {
		return 0, errNotBolt
	}
	pageSize := int64(le.Uint32(buf[0][24:]))
	if _, err := f.ReadAt(buf[1][:], pageSize); err != nil {
		return 0, err
	}
	if le.Uint32(buf[1][16:]) != magic {
		return 0, errNotBolt
	}
	return max(le.Uint64(buf[0][64:]), le.Uint64(buf[1][64:])), nil
}

var errNotBolt = errors.New("not a bbolt file: no meta page")

// fuzzLog collects what the server logs at warning level and above during
// one input (a panic's stack, an internal error), to show with a failure.
type fuzzLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *fuzzLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *fuzzLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}
