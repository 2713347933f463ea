package jsonl

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/the-mesh/mesh/internal/atomicfile"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/the-mesh/mesh"
)

// WAL layout; see the package doc.
const (
	walName        = "wal"
	walOldName     = "wal.old"
	walCorruptName = "wal.corrupt"

	walMagic     = "MWAL"
	walVersion   = 1
	walHeaderLen = 8

	recHeaderLen = 8                          // length uint32 | crc uint32
	minRecBody   = 8 + 1 + 1 + 2              // seq, room length, room, "{}"
	maxRecBody   = 8 + 1 + 255 + maxLineBytes // room length is one byte
)

// Checkpoint triggers (package doc, "Checkpoint").
const (
	defaultWALBytes = 64 << 20
	defaultWALAge   = 2 * time.Second
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func walHeader() []byte {
	return binary.BigEndian.AppendUint32([]byte(walMagic), walVersion)
}

// appendRecord appends the WAL record of room's line seq to b.
func appendRecord(b []byte, room mesh.RoomID, seq uint64, line []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(8+1+len(room)+len(line)))
	crcAt := len(b)
	b = append(b, 0, 0, 0, 0)
	body := len(b)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = append(b, byte(len(room)))
	b = append(b, room...)
	b = append(b, line...)
	binary.BigEndian.PutUint32(b[crcAt:], crc32.Checksum(b[body:], crcTable))
	return b
}

// walRecord is one decoded record. room and line alias the reader's
// buffer and are valid until its next call.
type walRecord struct {
	room []byte
	seq  uint64
	line []byte
}

// walReader decodes the records of a WAL after its header.
type walReader struct {
	br  *bufio.Reader
	off int64 // offset of the next record
	buf []byte
}

func newWALReader(r io.Reader, off int64) *walReader {
	return &walReader{br: bufio.NewReaderSize(r, scanBuf), off: off}
}

// next returns the next record. At a clean end it returns io.EOF; a record
// cut short, with a bad length or a bad checksum gives an error wrapping
// errCorrupt, after which the reader must not be used.
func (wr *walReader) next() (walRecord, error) {
	var h [recHeaderLen]byte
	if _, err := io.ReadFull(wr.br, h[:]); err == io.ErrUnexpectedEOF {
		return walRecord{}, fmt.Errorf("%w: record header cut short", errCorrupt)
	} else if err != nil {
		return walRecord{}, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n < minRecBody || n > maxRecBody {
		return walRecord{}, fmt.Errorf("%w: record length %d", errCorrupt, n)
	}
	if cap(wr.buf) < int(n) {
		wr.buf = make([]byte, n)
	}
	body := wr.buf[:n]
	if _, err := io.ReadFull(wr.br, body); err == io.ErrUnexpectedEOF || err == io.EOF {
		return walRecord{}, fmt.Errorf("%w: record cut short", errCorrupt)
	} else if err != nil {
		return walRecord{}, err
	}
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(h[4:]) {
		return walRecord{}, fmt.Errorf("%w: record checksum mismatch", errCorrupt)
	}
	roomEnd := 9 + int(body[8])
	if roomEnd > len(body) {
		return walRecord{}, fmt.Errorf("%w: room length %d", errCorrupt, body[8])
	}
	wr.off += recHeaderLen + int64(n)
	return walRecord{room: body[9:roomEnd], seq: binary.BigEndian.Uint64(body), line: body[roomEnd:]}, nil
}

// walFile is the WAL the committer appends to. It is owned by the
// committer goroutine (and by Open and Close while it is not running).
type walFile struct {
	f    *os.File
	size int64     // bytes written, header included
	born time.Time // when its first record was written; zero if it has none
}

// createWAL creates (or empties) dir/wal, writes its header and makes it
// and its directory entry durable.
func (s *Store) createWAL() (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.dir, walName), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(walHeader()); err != nil {
		f.Close()
		return nil, err
	}
	if err := s.sync(f); err != nil {
		f.Close()
		return nil, err
	}
	if err := s.syncDir(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// append writes b, whole records, at the end of the WAL and fsyncs it.
// On failure it cuts the WAL back (best effort; Open sets aside the rest).
func (w *walFile) append(s *Store, b []byte) error {
	if _, err := w.f.WriteAt(b, w.size); err != nil {
		w.f.Truncate(w.size) // best effort; Open sets aside a torn tail
		return fmt.Errorf("write: %w", err)
	}
	if err := s.sync(w.f); err != nil {
		w.f.Truncate(w.size) // best effort, as above
		return fmt.Errorf("fsync: %w", err)
	}
	if w.size == walHeaderLen {
		w.born = time.Now()
	}
	w.size += int64(len(b))
	return nil
}

// sync fsyncs f and reports it to Options.OnFsync.
func (s *Store) sync(f *os.File) error {
	t := time.Now()
	err := f.Sync()
	if err == nil && s.onFsync != nil {
		s.onFsync(time.Since(t))
	}
	return err
}

// syncDir fsyncs the messages directory and reports it to Options.OnFsync.
func (s *Store) syncDir() error {
	t := time.Now()
	err := atomicfile.SyncDir(s.dir)
	if err == nil && s.onFsync != nil {
		s.onFsync(time.Since(t))
	}
	return err
}

// errWALHeader marks a WAL whose header is not ours.
var errWALHeader = errors.New("not a version 1 WAL")

// checkWALHeader reads the header of a WAL of the given size. It returns
// errCorrupt for a header cut short or zeroed by a crash (the file was
// never acknowledged into) and errWALHeader for a foreign one.
func checkWALHeader(f *os.File, size int64) error {
	if size < walHeaderLen {
		return fmt.Errorf("%w: header cut short", errCorrupt)
	}
	var h [walHeaderLen]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return err
	}
	if h == ([walHeaderLen]byte{}) {
		return fmt.Errorf("%w: header zeroed", errCorrupt)
	}
	if string(h[:]) != string(walHeader()) {
		return fmt.Errorf("%w: header %q", errWALHeader, h[:])
	}
	return nil
}
