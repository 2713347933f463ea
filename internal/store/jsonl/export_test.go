package jsonl

import (
	"bytes"
	"io"
	"log/slog"
	"time"

	"github.com/the-mesh/mesh"
)

// ErrCorrupt and ScanLog expose the line scanner to the fuzz test.
var ErrCorrupt = errCorrupt

// ScanLog scans r from seq 1 at offset 0 and returns the offsets marked
// for the index.
func ScanLog(r io.Reader, every int) (next uint64, end int64, marks []int64, err error) {
	next, end, err = scanLog(r, 0, 1, every, func(seq uint64, off int64) { marks = append(marks, off) })
	return next, end, marks, err
}

// LineSeq exposes lineSeq to the fuzz test.
var LineSeq = lineSeq

// OpenTuned is Open with the checkpoint triggers given: a checkpoint
// starts once the WAL holds walBytes bytes or its first record is walAge
// old. onCheckpoint, if set, is called on the committer when one ends.
func OpenTuned(dataDir string, opts Options, walBytes int64, walAge time.Duration, onCheckpoint func(error)) (*Store, error) {
	return open(dataDir, opts, tuning{walBytes: walBytes, walAge: walAge, onCheckpoint: onCheckpoint})
}

// WALRecord is one WAL record, for tests that write a WAL by hand.
type WALRecord struct {
	Room mesh.RoomID
	Seq  uint64
	Line []byte
}

// WALHeader returns the header every WAL starts with.
func WALHeader() []byte { return walHeader() }

// AppendWALRecord appends the encoding of rec to b.
func AppendWALRecord(b []byte, rec WALRecord) []byte {
	return appendRecord(b, rec.Room, rec.Seq, rec.Line)
}

// ReadWAL decodes the records of the WAL in b, up to its first bad one.
func ReadWAL(b []byte) ([]WALRecord, error) {
	if len(b) < walHeaderLen || string(b[:walHeaderLen]) != string(walHeader()) {
		return nil, errWALHeader
	}
	wr := newWALReader(bytes.NewReader(b[walHeaderLen:]), walHeaderLen)
	var recs []WALRecord
	for {
		rec, err := wr.next()
		if err == io.EOF {
			return recs, nil
		} else if err != nil {
			return recs, err
		}
		recs = append(recs, WALRecord{mesh.RoomID(rec.room), rec.seq, bytes.Clone(rec.line)})
	}
}

// OpenJournalFsync is OpenJournal with a callback after every fsync.
func OpenJournalFsync(path string, logger *slog.Logger, replay func([]byte) error, onFsync func(time.Duration)) (*Journal, error) {
	return openJournal(path, logger, replay, onFsync)
}

// Queued returns how many lines wait for the next journal write.
func (j *Journal) Queued() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return bytes.Count(j.next.buf, []byte{'\n'})
}

// EntriesBefore exposes entriesBefore to the index tests.
var EntriesBefore = entriesBefore
